"""Diagnoses: what a failing run tells the person who must fix the glue (docs/diagnostics.md).

The checks (stresskit/checks/) say *that* something is wrong; the modules here say *where and why*:

  leaks.py       the leak ledger: leaked blocks grouped by allocating role/thread, kind, size
                 class and where each was last seen; the first N blocks in full
  corruption.py  damaged blocks, double hand-offs and double frees: who allocated, who handed
                 off, who found it, the first wrong byte with expected vs actual bytes
                 (both built from engine_records.py, the engine's raw records read out of native
                 memory, named by layout.py: thread and location codes -> role, thread, queue)
  stalls.py      the per-replica watchdog's findings: each role's state, the wait-for graph with
                 its cycles, and every thread's Python + native stack (py-spy dump --native)
  waitgraph.py   the wait-for graph of stuck roles and its cycles (Tarjan), for stalls.py
  crashes.py     a worker killed by a signal: the signal, Python stacks of all threads
                 (faulthandler), the faulting thread's native backtrace, last progress per role
  replay.py      `stresskit replay REPORT.json`: rerun exactly one replica's recorded plan
                 (replay_record.py: what each replica records; replay_report.py: reading it back)
  shrink.py      `stresskit shrink SCENARIO --until EXPR`: a smaller scenario that still fails
                 (shrink_steps.py: the candidates and the size measure)

Each replica's diagnoses travel as plain dicts (they pickle and serialise as they are) in
``ReplicaResult.diagnostics`` (found by the worker) and ``WorkerRecord.diagnostics`` (found by
the supervisor: stalls, crashes), one key per module; the JSON report puts their union under
``workers[i].diagnostics``.
"""
