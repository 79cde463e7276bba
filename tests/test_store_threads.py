"""The app caches one Store for every Streamlit session thread. With one shared SQLite connection, two
threads' transactions interleave on it ("cannot start a transaction within a transaction", a rollback of
the other thread's write); each thread must get its own connection, and nothing may be lost."""

from __future__ import annotations

import threading

from test_app_pages import make_run

from icm_app.store.sqlite_store import Store

THREADS, WRITES = 6, 25


def test_threads_sharing_the_apps_store_lose_nothing(icm_home):
    from icm_app.ui.state import get_store

    run_id = make_run("shared")
    store = get_store()  # the cached Store every page uses
    assert get_store() is store
    errors: list[str] = []
    start = threading.Barrier(THREADS)

    def session(k: int) -> None:
        start.wait()
        try:
            for j in range(WRITES):
                store.add_override(run_id, (k + j) % 12, j % 2, who=f"session {k}", note=f"write {j}")
                store.send_command(run_id, "pause")
                store.labels(run_id)
                store.version(run_id)
        except Exception as exc:  # noqa: BLE001 - any error of any thread fails the test
            errors.append(f"session {k}: {exc!r}")

    threads = [threading.Thread(target=session, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    fresh = Store()
    overrides = fresh.overrides(run_id)
    assert len(overrides) == THREADS * WRITES
    assert {(o["who"], o["note"]) for o in overrides} == {
        (f"session {k}", f"write {j}") for k in range(THREADS) for j in range(WRITES)
    }
    assert fresh.pending_commands(run_id) == ["pause"] * (THREADS * WRITES)
