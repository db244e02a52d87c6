"""The two templates are generated from one source (infra/peerlink.yaml.j2,
by infra/generate.py): what is committed must be what the source gives, so a
fix made in one generated file only, or a source edit not regenerated, fails
here."""

import difflib
import subprocess
import sys

import pytest

from cfn import INFRA, TEMPLATES

sys.path.insert(0, str(INFRA))
import generate  # noqa: E402


@pytest.mark.parametrize("role", sorted(TEMPLATES))
def test_the_committed_template_is_the_generated_one(role):
    committed = TEMPLATES[role].read_text(encoding="utf-8")
    generated = generate.render(role)
    diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                        f"infra/{role}.yaml", "from infra/peerlink.yaml.j2", n=1))
    assert committed == generated, (
        f"infra/{role}.yaml differs from its source: run `.tools/venv/bin/python infra/generate.py`\n{diff[:4000]}")


def test_the_roles_share_what_they_have_in_common():
    """Most of each template is common text, and each role's own part is
    small: if the source stops sharing (say, a copy-pasted block per role),
    this fails."""
    accepter, requester = (generate.render(r).splitlines() for r in ("accepter", "requester"))
    common = sum(b.size for b in difflib.SequenceMatcher(None, accepter, requester, autojunk=False)
                 .get_matching_blocks())
    source = (INFRA / "peerlink.yaml.j2").read_text(encoding="utf-8").splitlines()
    # The source holds the common part once: shorter than both roles written out.
    assert len(source) < len(accepter) + len(requester) - common * 0.9, (len(source), len(accepter),
                                                                         len(requester), common)


def test_check_mode_reports_a_stale_file(tmp_path, monkeypatch):
    """`generate.py --check` (what a developer runs) fails on a stale file and
    passes on a fresh one."""
    for role in TEMPLATES:
        (tmp_path / f"{role}.yaml").write_text(generate.render(role), encoding="utf-8")
    (tmp_path / "peerlink.yaml.j2").write_text((INFRA / "peerlink.yaml.j2").read_text(encoding="utf-8"))
    script = INFRA / "generate.py"
    copy = tmp_path / "generate.py"
    copy.write_text(script.read_text(encoding="utf-8"))
    fresh = subprocess.run([sys.executable, str(copy), "--check"], capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    stale = tmp_path / "requester.yaml"
    stale.write_text(stale.read_text().replace("Timeout: 120", "Timeout: 121"))
    out = subprocess.run([sys.executable, str(copy), "--check"], capture_output=True, text=True)
    assert out.returncode == 1 and "-      Timeout: 121" in out.stdout, out.stdout + out.stderr
