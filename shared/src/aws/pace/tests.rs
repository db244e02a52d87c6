//! The bucket arithmetic with an injected clock: no test sleeps.

use std::time::{Duration, Instant};

use super::*;

const WRITES: Limit = Limit {
    size: 50.0,
    refill: 5.0,
};

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn a_full_bucket_admits_its_size_less_one_second_of_refill_then_one_call_per_refill() {
    let t0 = Instant::now();
    let mut b = Bucket::new(WRITES, 5.0, t0);
    let waits: Vec<f64> = (0..48).map(|_| secs(b.take(t0))).collect();
    assert!(waits[..45].iter().all(|w| *w == 0.0), "{waits:?}");
    assert!(
        close(waits[45], 0.2) && close(waits[46], 0.4) && close(waits[47], 0.6),
        "{waits:?}"
    );
}

#[test]
fn a_hub_of_240_routes_is_admitted_at_the_documented_floor() {
    // EC2 admits 240 CreateRoute in (240 - 50) / 5 = 38 s; the copy keeps
    // one second of refill back: 39 s.
    let t0 = Instant::now();
    let mut b = Bucket::new(WRITES, 5.0, t0);
    let last = (0..240).map(|_| b.take(t0)).last().unwrap();
    assert!(close(secs(last), 39.0), "{last:?}");
}

#[test]
fn tokens_come_back_at_the_refill_rate_up_to_the_capacity() {
    let t0 = Instant::now();
    let mut b = Bucket::new(WRITES, 5.0, t0);
    for _ in 0..45 {
        b.take(t0);
    }
    let t1 = t0 + Duration::from_secs(2);
    assert_eq!(b.wait(t1), Duration::ZERO, "10 tokens back after 2 s");
    let waits: Vec<f64> = (0..11).map(|_| secs(b.take(t1))).collect();
    assert!(close(waits[9], 0.0) && close(waits[10], 0.2), "{waits:?}");
    let later = t1 + Duration::from_secs(3600);
    b.refill(later);
    assert!(close(b.tokens, 45.0), "never above the capacity: {}", b.tokens);
}

#[test]
fn asking_when_a_call_would_go_takes_nothing() {
    let t0 = Instant::now();
    let mut b = Bucket::new(WRITES, 5.0, t0);
    for _ in 0..45 {
        b.take(t0);
    }
    assert!(close(secs(b.wait(t0)), 0.2));
    assert!(close(secs(b.wait(t0)), 0.2), "still the same");
    assert!(close(secs(b.take(t0)), 0.2));
    assert!(close(secs(b.wait(t0)), 0.4));
}

/// EC2's side, as the documentation describes it: `size` tokens, `refill`
/// added once a second (at a phase we do not know), none above `size`.
/// Every request the copy lets through finds a token there.
#[test]
fn no_paced_call_finds_ec2s_bucket_empty_whatever_the_phase_of_its_refill() {
    for tenth in 0..10 {
        let phase = f64::from(tenth) / 10.0;
        let t0 = Instant::now();
        let mut copy = Bucket::new(WRITES, 5.0, t0);
        let sent: Vec<f64> = (0..300).map(|_| secs(copy.take(t0))).collect();
        let (mut tokens, mut next_refill) = (WRITES.size, phase);
        for (i, at) in sent.iter().enumerate() {
            while next_refill <= *at {
                tokens = (tokens + WRITES.refill).min(WRITES.size);
                next_refill += 1.0;
            }
            assert!(
                tokens >= 1.0,
                "phase {phase}: call {i} at {at:.2} s finds {tokens} tokens"
            );
            tokens -= 1.0;
        }
    }
}

#[test]
fn a_throttle_empties_the_copy_and_halves_the_rate_once_per_burst_down_to_a_tenth() {
    let t0 = Instant::now();
    let mut b = Bucket::new(WRITES, 5.0, t0);
    b.throttled(t0);
    assert!(close(b.tokens, 0.0) && close(b.rate, 2.5));
    b.throttled(t0 + Duration::from_millis(500));
    assert!(close(b.rate, 2.5), "the same burst: one cut");
    let mut at = t0;
    for _ in 0..10 {
        at += Duration::from_secs(2);
        b.throttled(at);
    }
    assert!(close(b.rate, 0.5), "floor: a tenth of 5/s, not {}", b.rate);
    assert!(close(secs(b.take(at)), 2.0), "one token per 2 s at 0.5/s");
}

#[test]
fn calls_ec2_takes_give_the_rate_back_slowly_up_to_the_documented_one() {
    let t0 = Instant::now();
    let mut b = Bucket::new(WRITES, 5.0, t0);
    b.throttled(t0);
    b.admitted(t0);
    assert!(close(b.rate, 2.75), "{}", b.rate);
    for _ in 0..100 {
        b.admitted(t0);
    }
    assert!(close(b.rate, 5.0), "{}", b.rate);
}

#[test]
fn the_rate_in_force_when_tokens_came_back_counts_not_the_new_one() {
    let t0 = Instant::now();
    let mut b = Bucket::new(WRITES, 5.0, t0);
    for _ in 0..45 {
        b.take(t0);
    }
    b.throttled(t0);
    // 2 s at 2.5/s, then the rate goes up: 5 tokens, not 5.5.
    b.admitted(t0 + Duration::from_secs(2));
    assert!(close(b.tokens, 5.0) && close(b.rate, 2.75), "{b:?}");
    b.refill(t0 + Duration::from_secs(3));
    assert!(close(b.tokens, 7.75), "{}", b.tokens);
}

#[test]
fn each_action_has_its_own_bucket_and_its_class_figures() {
    let buckets = Buckets::default();
    assert_eq!(buckets.limit("DescribeRouteTables").unwrap().size, 100.0);
    assert_eq!(buckets.limit("CreateTags").unwrap().refill, 10.0);
    assert_eq!(buckets.limit("CreateRoute"), Some(WRITES));
    assert_eq!(buckets.limit("AcceptVpcPeeringConnection"), Some(WRITES));
    assert_eq!(Buckets::unpaced().limit("CreateRoute"), None);
    let pacer = Pacer::new(buckets);
    let t0 = Instant::now();
    for _ in 0..45 {
        pacer.reserve("CreateRoute", t0);
    }
    assert!(close(secs(pacer.reserve("CreateRoute", t0)), 0.2));
    assert_eq!(pacer.reserve("AuthorizeSecurityGroupIngress", t0), Duration::ZERO);
}

#[test]
fn an_attempt_uses_the_token_taken_for_it_and_any_other_attempt_takes_one() {
    let pacer = Pacer::new(Buckets::default());
    let t0 = Instant::now();
    let tokens = |p: &Pacer| p.with("CreateRoute", t0, |e| e.bucket.tokens).unwrap();
    pacer.reserve("CreateRoute", t0);
    pacer.attempt("CreateRoute", t0);
    assert!(close(tokens(&pacer), 44.0), "admitted: one token in all");
    pacer.attempt("CreateRoute", t0);
    assert!(close(tokens(&pacer), 43.0), "a later page or retry takes its own");
    // A throttled attempt: the retry's token is taken at once and waited for.
    let wait = pacer.failed("CreateRoute", true, t0);
    assert!(close(secs(wait), 0.4), "empty, then 2.5/s: {wait:?}");
    pacer.attempt("CreateRoute", t0);
    assert!(close(tokens(&pacer), -1.0), "the retry used it");
    assert_eq!(
        Pacer::new(Buckets::unpaced()).reserve("CreateRoute", t0),
        Duration::ZERO
    );
}

#[test]
fn raised_limits_are_read_from_name_size_refill_pairs() {
    let b = Buckets::default()
        .with_overrides(" writes=100/10, CreateRoute=200/20,reads=1000/200 ,")
        .unwrap();
    assert_eq!(
        b.limit("CreateRoute"),
        Some(Limit {
            size: 200.0,
            refill: 20.0
        })
    );
    assert_eq!(b.limit("DeleteRoute").unwrap().refill, 10.0);
    assert_eq!(b.limit("DescribeVpcs").unwrap().size, 1000.0);
    for bad in [
        "writes",
        "writes=100",
        "writes=0/5",
        "writes=50/0",
        "writes=50/-1",
        "writes=x/5",
        "createRoute=1/1",
        "Create-Route=1/1",
    ] {
        assert!(Buckets::default().with_overrides(bad).is_err(), "{bad}");
    }
}

#[test]
fn faster_buckets_refill_faster_hold_as_much_and_keep_one_of_their_seconds_back() {
    let b = Buckets::default().faster(10.0);
    let limit = b.limit("CreateRoute").unwrap();
    assert_eq!(
        limit,
        Limit {
            size: 50.0,
            refill: 50.0
        }
    );
    assert_eq!(b.limit("DescribeVpcs").unwrap().refill, 200.0);
    assert_eq!(b.headroom(limit), 5.0, "a tenth of a second of 50/s");
    assert_eq!(Buckets::default().headroom(WRITES), 5.0);
    let tiny = Limit {
        size: 4.0,
        refill: 10.0,
    };
    assert_eq!(Buckets::default().headroom(tiny), 2.0, "at most half the bucket");
}
