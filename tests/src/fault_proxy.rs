//! The fault-injection proxy in front of an emulator.

use std::process::Child;

use crate::{Emulator, spawn_announcing};

/// The fault-injection proxy (`scripts/fault_proxy.py`) on a free loopback
/// port in front of an emulator. Stopped on drop.
pub struct FaultProxy {
    pub endpoint: String,
    pub port: u16,
    child: Child,
}

impl FaultProxy {
    pub fn start(emu: &Emulator, seed: u64) -> FaultProxy {
        let seed = seed.to_string();
        let args = ["--upstream", emu.endpoint.as_str(), "--seed", seed.as_str()];
        let (child, port) = spawn_announcing("scripts/fault_proxy.py", &args, "PROXY_PORT");
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            child,
        }
    }

    /// Replaces the fault configuration (`{"seed":…, "rates":{…}, "slow_seconds":…}`).
    pub fn configure(&self, config: &serde_json::Value) {
        self.control("PUT", "/__proxy/config", &config.to_string());
    }

    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.control("GET", "/__proxy/stats", "")).expect("proxy stats are JSON")
    }

    pub fn reset(&self) {
        self.control("POST", "/__proxy/reset", "");
    }

    /// Writes that reached the emulator through the proxy.
    pub fn forwarded_writes(&self) -> u64 {
        self.stats()["totals"]["forwarded_writes"]
            .as_u64()
            .expect("forwarded_writes")
    }

    fn control(&self, method: &str, path: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the proxy");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send to the proxy");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read the proxy's answer");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(
            head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2"),
            "proxy control {method} {path}: {head}"
        );
        body.to_string()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
