"""SQLite run store (WAL mode, one transaction per write) that survives crashes and concurrent readers.

Schema changes are numbered migrations recorded in `migrations`. The search state is checkpointed with
each iteration's event in one transaction, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.config import SearchConfig
from ..core.overrides import fold_override
from ..core.types import Dataset, Example
from ..paths import icm_home
from ..scoring.models import ScorerConfig, model_label
from ..tasks.presets import TaskSpec

SQL_TRACE = "ICM_SQL_TRACE"  # a file: every statement of every Store in the process is appended to it


def _tracer(path: Path) -> Any:
    """Append `pid time statement` lines: how a test or a benchmark counts what a page reads."""
    out = path.open("a", buffering=1)
    return lambda statement: out.write(f"{os.getpid()} {time.time():.3f} {' '.join(statement.split())}\n")


EVENT_COLUMNS = (
    "iteration", "temperature", "U", "P", "I", "delta", "accepted", "skipped", "proposed", "old_label",
    "new_label", "changed", "n_labeled", "gold_agreement", "tokens", "seconds", "fix_rounds",
    # U's named terms (migration 6): U = alpha * P - rule_violations - proportion_weight * proportion_excess
    "alpha", "rule_violations", "proportion_weight", "proportion_excess",
    # migration 7: which restart (chain), phase (init / search / complete), move (flip / swap / complete)
    "chain", "phase", "move", "partner",
)  # fmt: skip


def _m1_initial(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, name TEXT, created REAL, updated REAL, status TEXT,
            task TEXT, search TEXT, scorer TEXT, data_source TEXT, model TEXT, message TEXT
        );
        CREATE TABLE examples (
            run_id TEXT, idx INTEGER, fields TEXT, grp TEXT, key TEXT, gold INTEGER, row TEXT,
            PRIMARY KEY (run_id, idx)
        );
        CREATE TABLE labels (
            run_id TEXT, idx INTEGER, label INTEGER, pinned INTEGER DEFAULT 0, score REAL,
            flips INTEGER DEFAULT 0, PRIMARY KEY (run_id, idx)
        );
        CREATE TABLE events (
            run_id TEXT, iteration INTEGER, temperature REAL, U REAL, P REAL, I INTEGER, delta REAL,
            accepted INTEGER, skipped INTEGER, proposed INTEGER, old_label INTEGER, new_label INTEGER,
            changed TEXT, n_labeled INTEGER, gold_agreement REAL, tokens INTEGER, seconds REAL,
            fix_rounds INTEGER, PRIMARY KEY (run_id, iteration)
        );
        CREATE TABLE overrides (
            id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, idx INTEGER, old_label INTEGER,
            new_label INTEGER, pinned INTEGER, who TEXT, at REAL, note TEXT, applied INTEGER DEFAULT 0
        );
        CREATE TABLE checkpoints (run_id TEXT PRIMARY KEY, iteration INTEGER, state TEXT, at REAL);
        CREATE TABLE commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, command TEXT, at REAL, done INTEGER DEFAULT 0
        );
        """,
    )


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Statement by statement: `executescript` would commit the surrounding migration transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _m2_worker_pid(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE runs ADD COLUMN worker_pid INTEGER")


def _m3_evaluations(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE evaluations (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, at REAL, kind TEXT, result TEXT)"
    )


def _m4_jobs(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, updated REAL, spec TEXT)")


def _m5_override_iteration(db: sqlite3.Connection) -> None:
    """The iteration whose checkpoint first holds an override (charts mark it; labels() overlays the rest)."""
    db.execute("ALTER TABLE overrides ADD COLUMN applied_iteration INTEGER")


def _m6_objective_terms(db: sqlite3.Connection) -> None:
    """Events name U's terms; I stays the unweighted count (rule violations + proportion excess)."""
    for column in (
        "alpha REAL",
        "rule_violations INTEGER",
        "proportion_weight REAL",
        "proportion_excess INTEGER",
    ):
        db.execute(f"ALTER TABLE events ADD COLUMN {column}")


def _m7_chains_and_phases(db: sqlite3.Connection) -> None:
    """Restarts and the completion phase: events keyed by (run, chain, iteration) with their
    phase and move; each finished chain's labels in `chains`; `runs.chain` is the chain shown (the running
    one, then the best); `labels.agreement` is the share of chains agreeing with the run's label."""
    old = [r[1] for r in db.execute("PRAGMA table_info(events)")]
    db.execute(
        "CREATE TABLE events_v7 (run_id TEXT, chain INTEGER DEFAULT 0, "
        + ", ".join(c for c in old if c != "run_id")
        + ", phase TEXT, move TEXT, partner INTEGER, PRIMARY KEY (run_id, chain, iteration))"
    )
    db.execute(f"INSERT INTO events_v7 ({', '.join(old)}) SELECT {', '.join(old)} FROM events")
    db.execute(
        "UPDATE events_v7 SET chain = 0, phase = CASE WHEN iteration = 0 THEN 'init' ELSE 'search' END"
    )
    db.execute("DROP TABLE events")
    db.execute("ALTER TABLE events_v7 RENAME TO events")
    db.execute("ALTER TABLE runs ADD COLUMN chain INTEGER DEFAULT 0")
    db.execute("ALTER TABLE labels ADD COLUMN agreement REAL")
    db.execute(
        "CREATE TABLE chains (run_id TEXT, chain INTEGER, U REAL, summary TEXT, PRIMARY KEY (run_id, chain))"
    )


def _m8_label_history(db: sqlite3.Connection) -> None:
    """Label history: every change of an example's label or pin, per chain and iteration, so the
    labels can be rebuilt at any iteration. `runs.history` is 1 for runs whose history is complete (created
    after this migration); older runs cannot be replayed. Overrides gain `kind` ('override' or 'restore', the
    Review page's undo), the pin they replaced (`old_pinned`) and the chain whose checkpoint first held them."""
    db.execute(
        "CREATE TABLE label_changes (run_id TEXT, chain INTEGER, iteration INTEGER, idx INTEGER, "
        "old_label INTEGER, new_label INTEGER, old_pinned INTEGER, new_pinned INTEGER, "
        "PRIMARY KEY (run_id, chain, iteration, idx))"
    )
    db.execute("ALTER TABLE runs ADD COLUMN history INTEGER DEFAULT 0")
    db.execute("ALTER TABLE overrides ADD COLUMN kind TEXT DEFAULT 'override'")
    db.execute("ALTER TABLE overrides ADD COLUMN old_pinned INTEGER")
    db.execute("ALTER TABLE overrides ADD COLUMN applied_chain INTEGER")


def _m9_start_phase(db: sqlite3.Connection) -> None:
    """What a starting worker is doing (loading, a one-time model conversion with its progress), as JSON:
    the Run page shows it instead of a silent "starting"."""
    db.execute("ALTER TABLE runs ADD COLUMN phase TEXT")


MIGRATIONS = [
    _m1_initial, _m2_worker_pid, _m3_evaluations, _m4_jobs, _m5_override_iteration, _m6_objective_terms,
    _m7_chains_and_phases, _m8_label_history, _m9_start_phase,
]  # fmt: skip


@dataclass
class RunInfo:
    id: str
    name: str
    created: float
    updated: float
    status: str
    task: dict[str, Any]
    search: dict[str, Any]
    scorer: dict[str, Any]
    data_source: str
    model: str
    message: str | None
    worker_pid: int | None = None
    chain: int = 0  # the chain whose events and labels are shown: the running one, then the best
    phase: dict[str, Any] | None = None  # a starting worker's phase: text, done, total, started (epoch s)


class RunNotFoundError(KeyError):
    pass


def _search_parts(stored: list[dict[str, Any]]) -> tuple[list[Example], dict[int, int]]:
    """Stored example rows as the search's examples, and their gold labels apart."""
    examples = [Example(r["idx"], r["fields"], r["group"], r["key"]) for r in stored]
    return examples, {r["idx"]: r["gold"] for r in stored if r["gold"] is not None}


class Store:
    """One SQLite file holding every run. Safe to open from several processes at once, and to share between
    threads (the app caches one Store for all of Streamlit's session threads): each thread gets its own
    connection, so one thread's transaction never sees another's statements."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else icm_home() / "runs.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._trace = _tracer(Path(os.environ[SQL_TRACE])) if os.environ.get(SQL_TRACE) else None
        self.db.execute("PRAGMA journal_mode=WAL")
        self._migrate()

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use; closed when the thread ends and its local goes)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            if self._trace:  # after the set-up: a trace counts what a page reads, not a connection's pragmas
                db.set_trace_callback(self._trace)
            self._local.db = db
        return db

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, at REAL)")
            done = {r[0] for r in db.execute("SELECT version FROM migrations")}
            for version, migration in enumerate(MIGRATIONS, start=1):
                if version not in done:
                    migration(db)
                    db.execute("INSERT INTO migrations VALUES (?, ?)", (version, time.time()))

    # -- runs --------------------------------------------------------------------------------------
    def create_run(
        self,
        dataset: Dataset,
        task: TaskSpec,
        search: SearchConfig,
        scorer: ScorerConfig,
        *,
        data_source: str,
        name: str = "",
    ) -> str:
        """Store a new run: its full resolved config (an unset iteration budget filled in for its size), its
        examples with their rows, and (apart from them) their gold labels. The one way a run is created."""
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        now = time.time()
        gold = dataset.gold or {}
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, name, created, updated, status, task, search, scorer, data_source, "
                "model, message, worker_pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, name or f"{task.name} on {data_source}", now, now, "created",
                 json.dumps(task.to_dict()), json.dumps(search.resolved(len(dataset.examples)).to_dict()),
                 json.dumps(scorer.to_dict()), data_source, model_label(scorer), None, None),
            )  # fmt: skip
            if len(MIGRATIONS) >= 8:  # history complete from the start (replayable); tests may stop at 7
                db.execute("UPDATE runs SET history = 1 WHERE id = ?", (run_id,))
            db.executemany(
                "INSERT INTO examples VALUES (?,?,?,?,?,?,?)",
                [
                    (run_id, e.idx, json.dumps(dict(e.fields)), e.group, e.key, gold.get(e.idx),
                     json.dumps(dataset.rows[e.idx], default=str))
                    for e in dataset.examples
                ],
            )  # fmt: skip
        return run_id

    def run(self, run_id: str) -> RunInfo:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            row = self.db.execute("SELECT * FROM runs WHERE id LIKE ?", (run_id + "%",)).fetchall()
            if len(row) != 1:
                raise RunNotFoundError(f"no run {run_id!r}" if not row else f"run id {run_id!r} is ambiguous")
            row = row[0]
        return RunInfo(
            id=row["id"], name=row["name"], created=row["created"], updated=row["updated"],
            status=row["status"], task=json.loads(row["task"]), search=json.loads(row["search"]),
            scorer=json.loads(row["scorer"]), data_source=row["data_source"], model=row["model"],
            message=row["message"], worker_pid=row["worker_pid"], chain=row["chain"] or 0,
            phase=json.loads(row["phase"]) if "phase" in row.keys() and row["phase"] else None,
        )  # fmt: skip

    def runs(self) -> list[RunInfo]:
        ids = [r[0] for r in self.db.execute("SELECT id FROM runs ORDER BY created DESC")]
        return [self.run(i) for i in ids]

    def set_status(self, run_id: str, status: str, message: str | None = None) -> None:
        """A new status ends the previous start's phase."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, message = ?, updated = ?, phase = NULL WHERE id = ?",
                (status, message, time.time(), run_id),
            )

    def set_phase(self, run_id: str, phase: dict[str, Any] | None) -> None:
        """What the starting worker is doing now (text, done, total, started)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET phase = ?, updated = ? WHERE id = ?",
                (json.dumps(phase) if phase else None, time.time(), run_id),
            )

    def version(self, run_id: str) -> tuple[Any, ...] | None:
        """One cheap query whose answer changes whenever anything a page shows of the run changes (status,
        phase, an iteration, an override, an evaluation); None once the run is deleted. Live pages poll it."""
        row = self.db.execute(
            """SELECT r.status, r.updated, r.chain, r.worker_pid,
                      (SELECT max(rowid) FROM events WHERE run_id = r.id),
                      (SELECT max(id) FROM overrides WHERE run_id = r.id),
                      (SELECT max(id) FROM evaluations WHERE run_id = r.id)
               FROM runs r WHERE r.id = ?""",
            (run_id,),
        ).fetchone()
        return tuple(row) if row else None

    def update_config(
        self, run_id: str, *, search: dict[str, Any], scorer: dict[str, Any], model: str
    ) -> None:
        """Change a run's settings; the runner reads them when it (re)starts."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET search = ?, scorer = ?, model = ?, updated = ? WHERE id = ?",
                (json.dumps(search), json.dumps(scorer), model, time.time(), run_id),
            )

    def set_worker(self, run_id: str, pid: int | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET worker_pid = ? WHERE id = ?", (pid, run_id))

    def delete_run(self, run_id: str) -> None:
        with self.transaction() as db:
            for table in (
                "examples",
                "labels",
                "events",
                "overrides",
                "checkpoints",
                "commands",
                "evaluations",
                "chains",
                "label_changes",
            ):
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # -- examples and labels -----------------------------------------------------------------------
    def examples(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM examples WHERE run_id = ? ORDER BY idx", (run_id,))
        return [
            {"idx": r["idx"], "fields": json.loads(r["fields"]), "group": r["grp"], "key": r["key"],
             "gold": r["gold"], "row": json.loads(r["row"])}
            for r in rows
        ]  # fmt: skip

    def search_examples(self, run_id: str) -> tuple[list[Example], dict[int, int]]:
        """The run's examples as the search gets them, and its gold labels kept apart (evaluation only)."""
        return _search_parts(self.examples(run_id))

    def dataset(self, run_id: str) -> Dataset:
        """A stored run's examples, rows and gold as the Dataset it was created from (a sweep started from
        an open run reuses them)."""
        stored = self.examples(run_id)
        examples, gold = _search_parts(stored)
        rows: list[dict[str, Any]] = [{} for _ in range(max((r["idx"] for r in stored), default=-1) + 1)]
        for r in stored:
            rows[r["idx"]] = r["row"]
        return Dataset(examples, rows, gold or None)

    def example_count(self, run_id: str) -> int:
        return self.db.execute("SELECT count(*) FROM examples WHERE run_id = ?", (run_id,)).fetchone()[0]

    def has_gold(self, run_id: str) -> bool:
        """Whether any of the run's examples has a gold label (shown for evaluation; the search never reads it)."""
        row = self.db.execute(
            "SELECT 1 FROM examples WHERE run_id = ? AND gold IS NOT NULL LIMIT 1", (run_id,)
        )
        return row.fetchone() is not None

    def labels(self, run_id: str) -> dict[int, dict[str, Any]]:
        """Current labels: what the worker last committed, with overrides it has not applied yet on top.

        A worker step that was under way when an override was saved rewrites the labels without it; the
        override stays pending until a checkpoint holds it, so reading it here keeps the pin visible.
        """
        self.db.execute("BEGIN")  # one read snapshot: labels and pending overrides agree
        try:
            rows = self.db.execute("SELECT * FROM labels WHERE run_id = ?", (run_id,)).fetchall()
            pending = self.db.execute(
                "SELECT idx, new_label, pinned, kind FROM overrides WHERE run_id = ? AND applied = 0 ORDER BY id",
                (run_id,),
            ).fetchall()
        finally:
            self.db.execute("COMMIT")
        out = {
            r["idx"]: {"label": r["label"], "pinned": bool(r["pinned"]), "score": r["score"], "flips": r["flips"],
                       "agreement": r["agreement"]}
            for r in rows
        }  # fmt: skip
        for idx, new_label, pinned, kind in pending:
            entry = out.get(
                idx, {"label": None, "pinned": False, "score": None, "flips": 0, "agreement": None}
            )
            entry["label"], entry["pinned"] = fold_override(
                entry["label"], entry["pinned"], kind=kind, new_label=new_label, new_pinned=bool(pinned)
            )
            if entry["label"] is None and not entry["pinned"]:  # unlabeled (again): not a label
                out.pop(idx, None)
            else:
                out[idx] = entry
        return out

    def current_labels(self, run_id: str) -> dict[int, int]:
        """idx -> label of every labeled example as a reader sees it now (pending overrides folded in)."""
        return {i: v["label"] for i, v in self.labels(run_id).items() if v["label"] is not None}

    # -- the search's progress ---------------------------------------------------------------------
    def record_step(
        self,
        run_id: str,
        event: dict[str, Any],
        state: dict[str, Any],
        scores: dict[int, float],
        changed: dict[int, tuple[int | None, int]],
        *,
        applied_overrides: list[int] | tuple[int, ...] = (),
    ) -> None:
        """One iteration: its event row, label changes, scores and the checkpoint, all or nothing.

        `applied_overrides`: ids of the overrides this checkpoint holds, marked applied in the same
        transaction (so no reader sees an override neither pending nor in the labels).
        """
        now = time.time()
        chain = event.get("chain") or 0
        with self.transaction() as db:
            db.executemany(
                "UPDATE overrides SET applied = 1, applied_iteration = ?, applied_chain = ? WHERE id = ?",
                [(event.get("iteration"), chain, i) for i in applied_overrides],
            )
            self._record_history(db, run_id, chain, int(state["iteration"]), state)
            db.execute(
                f"INSERT OR REPLACE INTO events (run_id, {', '.join(EVENT_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' * len(EVENT_COLUMNS))})",
                (run_id, *[event.get(c, 0 if c == "chain" else None) for c in EVENT_COLUMNS]),
            )
            self._write_labels(db, run_id, state, scores, changed)
            db.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)",
                (run_id, state["iteration"], json.dumps(state), now),
            )
            db.execute("UPDATE runs SET updated = ? WHERE id = ?", (now, run_id))

    def _record_history(
        self, db: sqlite3.Connection, run_id: str, chain: int, iteration: int, state: dict[str, Any]
    ) -> None:
        """One row per example whose label or pin differs from the chain's previous recorded state (so an
        override applied between iterations is in the diff of the iteration whose checkpoint holds it).

        The previous state is rebuilt from the history itself, not from the labels table (which overrides
        and restarts also write), so `labels_at` always equals the checkpointed labels."""
        row = db.execute("SELECT history FROM runs WHERE id = ?", (run_id,)).fetchone()
        if not row or not row[0]:
            return  # a run from before migration 8: its history would start mid-way
        db.execute(
            "DELETE FROM label_changes WHERE run_id = ? AND chain = ? AND iteration >= ?",
            (run_id, chain, iteration),
        )  # a re-recorded iteration replaces its rows
        before = self._fold_history(db, run_id, chain, iteration - 1)
        pinned = {int(k) for k in state["pinned"]}
        after = {int(k): (int(v), int(k) in pinned) for k, v in state["labels"].items()}
        rows = []
        for idx in sorted(set(before) | set(after)):
            old, new = before.get(idx, (None, False)), after.get(idx, (None, False))
            if old != new:
                rows.append((run_id, chain, iteration, idx, old[0], new[0], int(old[1]), int(new[1])))
        db.executemany("INSERT INTO label_changes VALUES (?,?,?,?,?,?,?,?)", rows)

    @staticmethod
    def _fold_history(
        db: sqlite3.Connection, run_id: str, chain: int, iteration: int
    ) -> dict[int, tuple[int, bool]]:
        """idx -> (label, pinned) after `iteration` of `chain`, from its label changes (unlabeled: absent)."""
        rows = db.execute(
            "SELECT idx, new_label, new_pinned FROM label_changes WHERE run_id = ? AND chain = ? AND iteration <= ? "
            "ORDER BY iteration",
            (run_id, chain, iteration),
        )
        out: dict[int, tuple[int, bool]] = {}
        for idx, label, pinned in rows:
            if label is None:
                out.pop(idx, None)
            else:
                out[idx] = (label, bool(pinned))
        return out

    def _shown_chain(self, run_id: str) -> int:
        row = self.db.execute("SELECT chain FROM runs WHERE id = ?", (run_id,)).fetchone()
        return (row[0] or 0) if row else 0

    def has_history(self, run_id: str) -> bool:
        """Whether the run was recorded with label history (created after migration 8), so it can be replayed."""
        row = self.db.execute("SELECT history FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def labels_at(self, run_id: str, iteration: int, chain: int | None = None) -> dict[int, dict[str, Any]]:
        """The labels as checkpointed after `iteration` of `chain` (default: the run's shown chain): idx ->
        {"label", "pinned"}; examples unlabeled at that point are absent. Only for runs with `has_history`."""
        chain = self._shown_chain(run_id) if chain is None else chain
        folded = self._fold_history(self.db, run_id, chain, iteration)
        return {i: {"label": label, "pinned": pinned} for i, (label, pinned) in sorted(folded.items())}

    def label_changes(self, run_id: str, chain: int, iteration: int) -> list[dict[str, Any]]:
        """The label changes one iteration of a chain recorded (idx, old/new label, old/new pinned)."""
        rows = self.db.execute(
            "SELECT idx, old_label, new_label, old_pinned, new_pinned FROM label_changes "
            "WHERE run_id = ? AND chain = ? AND iteration = ? ORDER BY idx",
            (run_id, chain, iteration),
        )
        return [dict(r) for r in rows]

    def label_history(self, run_id: str, idx: int) -> list[dict[str, Any]]:
        """Every recorded change of one example (chain, iteration, old/new label, old/new pinned), in order."""
        rows = self.db.execute(
            "SELECT chain, iteration, old_label, new_label, old_pinned, new_pinned FROM label_changes "
            "WHERE run_id = ? AND idx = ? ORDER BY chain, iteration",
            (run_id, idx),
        )
        return [
            {**dict(r), "old_pinned": bool(r["old_pinned"]), "new_pinned": bool(r["new_pinned"])}
            for r in rows
        ]

    def _write_labels(
        self,
        db: sqlite3.Connection,
        run_id: str,
        state: dict[str, Any],
        scores: dict[int, float],
        changed: dict[int, tuple[int | None, int]],
    ) -> None:
        pinned = {int(k) for k in state["pinned"]}
        keep = {int(k) for k in state["labels"]}
        stale = [
            r[0] for r in db.execute("SELECT idx FROM labels WHERE run_id = ?", (run_id,)) if r[0] not in keep
        ]  # an example the search no longer labels (a restore back to unlabeled)
        db.executemany("DELETE FROM labels WHERE run_id = ? AND idx = ?", [(run_id, i) for i in stale])
        for key, label in state["labels"].items():
            idx = int(key)
            flip = 1 if idx in changed and changed[idx][0] is not None else 0
            db.execute(
                """INSERT INTO labels (run_id, idx, label, pinned, score, flips) VALUES (?,?,?,?,?,?)
                   ON CONFLICT(run_id, idx) DO UPDATE SET label = excluded.label, pinned = excluded.pinned,
                   score = excluded.score, flips = flips + ?""",
                (run_id, idx, label, int(idx in pinned), scores.get(idx), flip, flip),
            )

    def checkpoint(self, run_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT state FROM checkpoints WHERE run_id = ?", (run_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def events(self, run_id: str, chain: int | None = None) -> list[dict[str, Any]]:
        """One chain's events (default: the run's shown chain: the running one, then the best)."""
        if chain is None:
            chain = self._shown_chain(run_id)
        rows = self.db.execute(
            "SELECT * FROM events WHERE run_id = ? AND chain = ? ORDER BY iteration", (run_id, chain)
        )
        return [dict(r) for r in rows]

    def events_since(self, run_id: str, chain: int, seq: int) -> list[dict[str, Any]]:
        """A chain's events written after `seq` (each row's `seq` is its rowid; a rewritten row gets a new
        one), oldest first: what a live page reads to extend the events it already holds."""
        rows = self.db.execute(
            "SELECT rowid AS seq, * FROM events WHERE run_id = ? AND chain = ? AND rowid > ? ORDER BY rowid",
            (run_id, chain, seq),
        )
        return [dict(r) for r in rows]

    def all_events(self, run_id: str) -> list[dict[str, Any]]:
        """Every chain's events, by chain then iteration (the Run page's chains chart)."""
        rows = self.db.execute("SELECT * FROM events WHERE run_id = ? ORDER BY chain, iteration", (run_id,))
        return [dict(r) for r in rows]

    # -- restarts: one chain after another, the best one's labels kept -------------------------------
    def start_chain(self, run_id: str, chain: int) -> None:
        """The labels table starts over for `chain` (pinned rows stay); the run shows this chain."""
        with self.transaction() as db:
            db.execute("DELETE FROM labels WHERE run_id = ? AND pinned = 0", (run_id,))
            db.execute("UPDATE runs SET chain = ?, updated = ? WHERE id = ?", (chain, time.time(), run_id))

    def save_chain(self, run_id: str, chain: int, U: float, summary: dict[str, Any]) -> None:
        """A finished chain: its U and a summary (labels with scores and flips, final state, terms)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO chains VALUES (?, ?, ?, ?)", (run_id, chain, U, json.dumps(summary))
            )

    def chains(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM chains WHERE run_id = ? ORDER BY chain", (run_id,))
        return [{"chain": r["chain"], "U": r["U"], **json.loads(r["summary"])} for r in rows]

    def keep_chain(
        self, run_id: str, chain: int, labels: dict[int, dict[str, Any]], state: dict[str, Any],
        agreement: dict[int, float],
    ) -> None:  # fmt: skip
        """Make `chain` the run's result: its labels (label, score, flips, pinned), per-example agreement
        across chains, and its final state as the checkpoint (a resume with more iterations extends it)."""
        now = time.time()
        with self.transaction() as db:
            db.execute("DELETE FROM labels WHERE run_id = ?", (run_id,))
            db.executemany(
                "INSERT INTO labels (run_id, idx, label, pinned, score, flips, agreement) VALUES (?,?,?,?,?,?,?)",
                [(run_id, i, v["label"], int(v["pinned"]), v["score"], v["flips"], agreement.get(i))
                 for i, v in labels.items()],
            )  # fmt: skip
            db.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)",
                (run_id, state["iteration"], json.dumps(state), now),
            )
            db.execute("UPDATE runs SET chain = ?, updated = ? WHERE id = ?", (chain, now, run_id))

    # -- human overrides ---------------------------------------------------------------------------
    def add_override(
        self, run_id: str, idx: int, new_label: int | None, *, who: str = "user", note: str = ""
    ) -> None:
        """Pin `idx` to `new_label` (None unpins); recorded in the audit trail, applied by the runner."""
        with self.transaction() as db:
            old, old_pinned = self._effective_label(db, run_id, idx)
            db.execute(
                "INSERT INTO overrides (run_id, idx, old_label, new_label, pinned, who, at, note, kind, old_pinned) "
                "VALUES (?,?,?,?,?,?,?,?,'override',?)",
                (
                    run_id,
                    idx,
                    old,
                    new_label,
                    int(new_label is not None),
                    who,
                    time.time(),
                    note,
                    int(old_pinned),
                ),
            )
            if new_label is None:
                db.execute("UPDATE labels SET pinned = 0 WHERE run_id = ? AND idx = ?", (run_id, idx))
            else:
                db.execute(
                    """INSERT INTO labels (run_id, idx, label, pinned) VALUES (?,?,?,1)
                       ON CONFLICT(run_id, idx) DO UPDATE SET label = excluded.label, pinned = 1""",
                    (run_id, idx, new_label),
                )

    def restore_label(
        self, run_id: str, idx: int, label: int | None, pinned: bool, *, who: str, note: str = ""
    ) -> None:
        """Set `idx`'s label AND pinned state exactly as given (label None: unlabeled again): the Review
        page's undo puts back what was there before an override. Kept in the audit trail (kind 'restore')
        and applied by the runner between iterations like an override; `labels()` shows it at once."""
        if label not in (None, 0, 1):
            raise ValueError(f"restore_label: label={label!r}; expected 0, 1 or None (unlabeled)")
        if label is None and pinned:
            raise ValueError("restore_label: an unlabeled example cannot be pinned (label=None, pinned=True)")
        with self.transaction() as db:
            old, old_pinned = self._effective_label(db, run_id, idx)
            db.execute(
                "INSERT INTO overrides (run_id, idx, old_label, new_label, pinned, who, at, note, kind, old_pinned) "
                "VALUES (?,?,?,?,?,?,?,?,'restore',?)",
                (run_id, idx, old, label, int(pinned), who, time.time(), note, int(old_pinned)),
            )
            if label is None:
                db.execute("DELETE FROM labels WHERE run_id = ? AND idx = ?", (run_id, idx))
            else:
                db.execute(
                    """INSERT INTO labels (run_id, idx, label, pinned) VALUES (?,?,?,?)
                       ON CONFLICT(run_id, idx) DO UPDATE SET label = excluded.label, pinned = excluded.pinned""",
                    (run_id, idx, label, int(pinned)),
                )

    @staticmethod
    def _effective_label(db: sqlite3.Connection, run_id: str, idx: int) -> tuple[int | None, bool]:
        """The label and pin a reader sees now (the labels table with pending overrides on top)."""
        row = db.execute(
            "SELECT label, pinned FROM labels WHERE run_id = ? AND idx = ?", (run_id, idx)
        ).fetchone()
        label, pinned = (row[0], bool(row[1])) if row else (None, False)
        pending = db.execute(
            "SELECT new_label, pinned, kind FROM overrides WHERE run_id = ? AND idx = ? AND applied = 0 ORDER BY id",
            (run_id, idx),
        )
        for new_label, new_pinned, kind in pending:
            label, pinned = fold_override(
                label, pinned, kind=kind, new_label=new_label, new_pinned=bool(new_pinned)
            )
        return label, pinned

    def pending_overrides(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM overrides WHERE run_id = ? AND applied = 0 ORDER BY id", (run_id,)
        )
        return [dict(r) for r in rows]

    def overrides(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM overrides WHERE run_id = ? ORDER BY id", (run_id,))
        return [dict(r) for r in rows]

    # -- evaluations (held-out accuracy, salience) ----------------------------------------------------
    def add_evaluation(self, run_id: str, kind: str, result: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO evaluations (run_id, at, kind, result) VALUES (?,?,?,?)",
                (run_id, time.time(), kind, json.dumps(result)),
            )

    def latest_evaluation(self, run_id: str, kind: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT result, at FROM evaluations WHERE run_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
            (run_id, kind),
        ).fetchone()
        return {**json.loads(row[0]), "at": row[1]} if row else None

    # -- batch jobs (iterative labeling of large datasets) -------------------------------------------
    def save_job(self, job_id: str, spec: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)", (job_id, time.time(), json.dumps(spec))
            )

    def job(self, job_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT spec FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no job {job_id!r}")
        return json.loads(row[0])

    def delete_job(self, job_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def jobs(self) -> list[tuple[str, dict[str, Any]]]:
        """Every stored job (batch jobs, sweeps, scalable-ICM jobs) as (id, spec), by id."""
        rows = self.db.execute("SELECT id, spec FROM jobs ORDER BY id").fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    # -- commands to a running worker (pause/stop) -------------------------------------------------
    def send_command(self, run_id: str, command: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO commands (run_id, command, at) VALUES (?,?,?)", (run_id, command, time.time())
            )

    def pending_commands(self, run_id: str) -> list[str]:
        """Commands sent but not yet taken by the worker (the Run page says "pausing after this iteration")."""
        rows = self.db.execute(
            "SELECT command FROM commands WHERE run_id = ? AND done = 0 ORDER BY id", (run_id,)
        )
        return [r[0] for r in rows]

    def clear_commands(self, run_id: str) -> None:
        """Drop commands no worker took (sent after the last one ended): a new worker must not obey them."""
        with self.transaction() as db:
            db.execute("UPDATE commands SET done = 1 WHERE run_id = ? AND done = 0", (run_id,))

    def take_commands(self, run_id: str) -> list[str]:
        with self.transaction() as db:
            rows = db.execute(
                "SELECT id, command FROM commands WHERE run_id = ? AND done = 0", (run_id,)
            ).fetchall()
            db.executemany("UPDATE commands SET done = 1 WHERE id = ?", [(r[0],) for r in rows])
        return [r[1] for r in rows]
