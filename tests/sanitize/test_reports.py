"""stresskit/sanitize/reports.py on logs the real runtimes wrote (gcc 12's ASAN and TSAN, from
`stresskit run --sanitize` runs; only the paths were shortened): what counts, the error kind, the
stacks in order, and the console's lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from stresskit.sanitize.reports import diagnose, parse, summary_lines

LOGS = Path(__file__).with_name("logs")
pytestmark = pytest.mark.tier1


def test_asan_report_gives_the_kind_the_access_and_the_top_frame():
    (report,) = parse((LOGS / "asan-use-after-poison.log").read_text())
    assert report["sanitizer"] == "AddressSanitizer" and report["error"] == "use-after-poison"
    assert report["message"] == "use-after-poison on address 0x7f3e2bc51220"  # registers dropped
    access = report["stacks"][0]
    assert access["title"] == "READ of size 1 at 0x7f3e2bc51220 thread T3"
    assert [f["function"] for f in access["frames"][:3]] == ["cc_free", "verify_and_free", "sk_block_free"]
    assert access["frames"][0]["location"] == "/repo/native/src/alloc.c:183"
    assert report["stacks"][1]["title"].startswith("Thread T3 created by T0 here")
    assert report["summary"].startswith("SUMMARY: AddressSanitizer: use-after-poison")


def test_tsan_reports_about_the_interpreter_alone_are_listed_but_do_not_count(tmp_path):
    log = LOGS / "tsan-python-and-mimalloc.log"
    python_only, in_library = parse(log.read_text())
    assert python_only["error"] == in_library["error"] == "data race"
    diag = diagnose("thread", [log])
    assert diag is not None and diag["reports"] == 1
    assert diag["ignored"] == ["SUMMARY: ThreadSanitizer: data race Modules/posixmodule.c:9376 in os_close_impl"]
    assert diag["stacks"][0]["frames"][0] == {"function": "mi_stat_count_add_mt", "module": "libstresskit_native.so",
                                              "location": "/cache/mimalloc-3.4.3-src/src/stats.c:99"}
    assert diag["stacks"][1]["title"].startswith("Previous atomic write of size 8")
    only_python = tmp_path / "python-only.log"
    only_python.write_text(log.read_text().split("SUMMARY:")[0] + "SUMMARY: ThreadSanitizer: data race x in y\n")
    assert diagnose("thread", [only_python]) is None


def test_summary_lines_name_the_error_and_the_top_frames_of_each_stack():
    lines = summary_lines(diagnose("address", [LOGS / "asan-use-after-poison.log"]))
    assert lines[0] == "address sanitizer: use-after-poison on address 0x7f3e2bc51220"
    assert lines[1:3] == ["  READ of size 1 at 0x7f3e2bc51220 thread T3:", "    cc_free src/alloc.c:183"]
    assert lines[-1] == f"  full report: {LOGS / 'asan-use-after-poison.log'}"
    assert len(lines) <= 1 + 3 * 5 + 1


def test_ubsan_report_keeps_its_message_as_the_stack_title_past_the_memory_excerpt():
    # found by `run --sanitize undefined` in the engine's diagnostics (calloc of a 64-byte aligned
    # struct), fixed in engine_diag.c; UBSAN prints the bytes around the address and a caret first
    (report,) = parse((LOGS / "ubsan-misaligned.log").read_text())
    assert report["sanitizer"] == "UndefinedBehaviorSanitizer"
    assert report["error"] == "member access within misaligned address"
    assert report["message"].endswith("for type 'struct sk_diag', which requires 64 byte alignment")
    assert report["where"] == "/repo/native/src/engine_diag.c:41:15"
    assert report["stacks"][0]["title"] == report["message"]
    assert [f["function"] for f in report["stacks"][0]["frames"][:2]] == ["sk_diag_init", "sk_run_prepare"]
