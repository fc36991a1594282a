"""Notifications on a job's end: a real HTTP receiver and a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import update

from lepton_lab.cli import cli
from lepton_lab.cli.run import notify_spec
from lepton_lab.config import SERVER_ONLY_ENV, Settings
from lepton_lab.errors import InvalidInput
from lepton_lab.identity import Actor
from lepton_lab.runs.groups import GroupInfo
from lepton_lab.runs.info import JobInfo
from lepton_lab.runs.notify import deliver_due, deliver_group_end, wait_for_deliveries
from lepton_lab.runs.runner import RunnerConfig, run_until_done
from lepton_lab.store.tables import Job
from lepton_lab.workspace import Workspace
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook, submit_code

SECRET = "s3cret-signing-key-for-tests"
SMTP_PASSWORD = "smtp-pa55word-for-tests"


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers from a script."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answers = list(answers or [])  # then 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests.append((dict(self.headers), body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"not now" if status >= 400 else b"ok")

            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lepton"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """What an aiosmtpd server received."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on loopback."""
    box, port = Mailbox(), _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def ws(tmp_path: Path, database_url: str, mailbox: tuple[Mailbox, int]) -> Iterator[Workspace]:
    """A workspace whose operator configured a signing secret and the loopback SMTP server;
    tries are quick (0.05 s, then 0.1 s …) so that retries fit in a test."""
    settings = Settings(
        home=tmp_path / "ws",
        database_url=database_url,
        user="alice",
        auto_start_runner=False,
        webhook_secrets=json.dumps({"ops": SECRET}),
        webhook_timeout=5,
        notify_attempts=3,
        notify_backoff=0.05,
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        smtp_from="lepton-lab@example.org",
        smtp_password=SMTP_PASSWORD,
    )
    workspace = Workspace(settings)
    yield workspace
    wait_for_deliveries(workspace)
    workspace.close()


@pytest.fixture
def alice(ws: Workspace) -> Actor:
    ws.teams.create(ws.actor("alice"), "finance")
    return ws.actor("alice")


def _ended(ws: Workspace, actor: Actor, status: str, notify: dict[str, Any]) -> JobInfo:
    """A queued job marked ended in the database, as a runner would have."""
    job = submit_code(ws, actor, "1 + 1", notify=notify)
    reason = None if status == "succeeded" else {"kind": "cell_error", "message": "boom"}
    with ws.db.write() as session:
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(status=status, reason=reason, ended_at=datetime.now(UTC))
        )
    return ws.jobs.get(actor, job.id)


def _verified(headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does with the shared secret (docs/jobs.md shows the same)."""
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Lepton-Signature"])


@pytest.mark.parametrize(
    ("notify", "says"),
    [
        ({"webhook": "http://127.0.0.1/x", "sms": ["1"]}, "unknown notify key(s) ['sms']"),
        ({"webhook": "ftp://127.0.0.1/x"}, "http:// or https://"),
        ({"webhook": "http:///nohost"}, "http:// or https://"),
        ({"webhook": "http://127.0.0.1/a b"}, "spaces or control characters"),
        ({"webhook": {"url": "http://127.0.0.1/", "secret_name": "nope"}}, "no webhook secret"),
        ({"webhook": {"url": "http://127.0.0.1/", "token": "x"}}, "secret_name"),
        ({"email": ["not-an-address"]}, "is not an e-mail address"),
        ({"email": ["a@b.org\nBcc: c@d.org"]}, "is not an e-mail address"),
        ({"email": ["a@b.org"], "on": ["exploded"]}, "a job ends"),
        ({"on": ["failed"]}, "names no webhook and no email"),
        ("a@b.org", "notify must be an object"),
    ],
)
def test_a_bad_notify_spec_queues_nothing(
    ws: Workspace, alice: Actor, notify: Any, says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        submit_code(ws, alice, "1", notify=notify)
    assert says in caught.value.message
    assert ws.jobs.list(alice).total == 0


def test_e_mail_needs_an_smtp_server_and_webhooks_the_allowed_hosts(tmp_path: Path) -> None:
    ws = Workspace(
        Settings(
            home=tmp_path / "bare",
            user="alice",
            auto_start_runner=False,
            webhook_hosts=frozenset({"*.example.org"}),
        )
    )
    try:
        with pytest.raises(InvalidInput, match="sends no e-mail"):
            submit_code(ws, ws.actor("alice"), "1", notify={"email": ["a@b.org"]})
        with pytest.raises(InvalidInput, match=r"webhooks may not go to 127\.0\.0\.1"):
            submit_code(ws, ws.actor("alice"), "1", notify={"webhook": "http://127.0.0.1/"})
        job = submit_code(ws, ws.actor("alice"), "1", notify={"webhook": "https://h.example.org"})
        assert job.notices == []
    finally:
        ws.close()


def test_a_failed_job_is_posted_signed_and_retried_after_5xx(ws: Workspace, alice: Actor) -> None:
    with Receiver(answers=[500, 503]) as receiver:
        hook = {"url": receiver.url + "?token=abcdef", "secret_name": "ops"}
        job = _ended(ws, alice, "failed", {"webhook": hook})
        assert deliver_due(ws) == [job.id]
    assert len(receiver.requests) == 3  # 500, 503, then 200
    for headers, body in receiver.requests:
        assert _verified(headers, body)
        assert headers["X-Lepton-Event"] == "job.ended"
    assert len({h["X-Lepton-Delivery"] for h, _ in receiver.requests}) == 1  # one delivery
    sent = json.loads(receiver.requests[0][1])
    assert sent["event"] == "job.ended" and sent["sent_at"]
    assert sent["job"]["id"] == job.id and sent["job"]["status"] == "failed"
    assert sent["job"]["reason"]["message"] == "boom"
    assert sent["job"]["submitted_by"] == "alice" and sent["job"]["template"] == "test.ipynb"
    [notice] = ws.jobs.get(alice, job.id).notices
    assert notice["channel"] == "webhook" and notice["status"] == "delivered"
    assert notice["attempts"] == 3 and notice["error"] == ""
    assert "abcdef" not in notice["target"] and notice["target"].endswith("/hooks/lepton?…")
    assert deliver_due(ws) == []  # delivered once, never again


def test_a_4xx_answer_is_not_tried_again(ws: Workspace, alice: Actor) -> None:
    with Receiver(answers=[404]) as receiver:
        job = _ended(ws, alice, "lost", {"webhook": receiver.url})
        deliver_due(ws)
    [notice] = ws.jobs.get(alice, job.id).notices
    assert len(receiver.requests) == 1 and notice["attempts"] == 1
    assert notice["status"] == "failed" and "answered 404: not now" in notice["error"]


def test_an_e_mail_arrives_through_the_smtp_server(
    ws: Workspace, alice: Actor, mailbox: tuple[Mailbox, int]
) -> None:
    job = _ended(ws, alice, "failed", {"email": ["ana@example.org", "bo@example.org"]})
    deliver_due(ws)
    box = mailbox[0]
    assert sorted(to for tos, _ in box.messages for to in tos) == [
        "ana@example.org",
        "bo@example.org",
    ]
    message = message_from_bytes(box.messages[0][1])
    assert message["Subject"] == "[Lepton Lab] job test.ipynb failed"
    assert message["From"] == "lepton-lab@example.org"
    text = message.get_payload(decode=True)
    assert isinstance(text, bytes)
    text = text.decode()
    assert f"The job {job.id} (test.ipynb) ended: failed." in text
    assert "Why: boom" in text and "Submitted by: alice" in text
    notices = ws.jobs.get(alice, job.id).notices
    assert [(n["channel"], n["status"]) for n in notices] == [("email", "delivered")] * 2


def test_success_is_notified_only_when_asked(ws: Workspace, alice: Actor) -> None:
    with Receiver() as receiver:
        quiet = _ended(ws, alice, "succeeded", {"webhook": receiver.url})
        asked = _ended(ws, alice, "succeeded", {"webhook": receiver.url, "on": ["succeeded"]})
        assert deliver_due(ws) == [asked.id]
        assert deliver_due(ws) == []  # the quiet one is settled too, not looked at again
    assert [json.loads(body)["job"]["id"] for _, body in receiver.requests] == [asked.id]
    assert ws.jobs.get(alice, quiet.id).notices == []
    assert len(ws.jobs.get(alice, asked.id).notices) == 1


def test_an_unreachable_webhook_is_a_failed_notice_and_the_job_stays_as_it_was(
    ws: Workspace, alice: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/hook"  # nothing listens there
    job = _ended(ws, alice, "failed", {"webhook": dead, "email": ["ana@example.org"]})
    with caplog.at_level(logging.WARNING, logger="lepton_lab.notify"):
        assert deliver_due(ws) == [job.id]
    after = ws.jobs.get(alice, job.id)
    assert (after.status, after.reason, after.ended_at) == (job.status, job.reason, job.ended_at)
    failed, mailed = after.notices
    assert failed["status"] == "failed" and failed["attempts"] == 3
    assert "could not reach the receiver" in failed["error"]
    assert mailed["status"] == "delivered"  # one target failing does not stop the others
    assert any("could not notify" in r.getMessage() for r in caplog.records)


def test_concurrent_passes_deliver_each_end_once(ws: Workspace, alice: Actor) -> None:
    # Each pass has a workspace (an engine, connections) of its own, as processes would.
    others = [Workspace(ws.settings) for _ in range(4)]
    try:
        with Receiver() as receiver:
            jobs = [_ended(ws, alice, "failed", {"webhook": receiver.url}) for _ in range(12)]
            handled: list[str] = []
            threads = [
                threading.Thread(target=lambda w=w: handled.extend(deliver_due(w))) for w in others
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        ids = sorted(json.loads(body)["job"]["id"] for _, body in receiver.requests)
        assert ids == sorted(j.id for j in jobs)  # each once, none twice
        assert sorted(handled) == ids
        assert all(len(ws.jobs.get(alice, j.id).notices) == 1 for j in jobs)
    finally:
        for other in others:
            other.close()


def test_a_claim_whose_process_died_is_taken_over(ws: Workspace, alice: Actor) -> None:
    with Receiver() as receiver:
        job = _ended(ws, alice, "failed", {"webhook": receiver.url})
        for until, sent in ((timedelta(minutes=5), 0), (timedelta(minutes=-1), 1)):
            marker = [{"claim": "dead-process", "until": (datetime.now(UTC) + until).isoformat()}]
            with ws.db.write() as session:
                session.execute(update(Job).where(Job.id == job.id).values(notices=marker))
            deliver_due(ws)
            assert len(receiver.requests) == sent
    assert ws.jobs.get(alice, job.id).notices[0]["status"] == "delivered"


def test_secrets_never_leave_the_delivering_process(
    ws: Workspace, alice: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), Receiver(answers=[500]) as receiver:
        job = _ended(
            ws,
            alice,
            "failed",
            {"webhook": {"url": receiver.url, "secret_name": "ops"}, "email": ["ana@example.org"]},
        )
        deliver_due(ws)
    shown = json.dumps(ws.jobs.get(alice, job.id).to_dict()) + caplog.text + repr(ws.settings)
    with ws.db.read() as session:
        shown += json.dumps(session.get(Job, job.id).notify)  # type: ignore[union-attr]
    for secret in (SECRET, SMTP_PASSWORD):
        assert secret not in shown
    assert "ops" in shown  # the secret's name is not a secret
    assert {"LEPTON_LAB_WEBHOOK_SECRETS", "LEPTON_LAB_SMTP_PASSWORD"} <= SERVER_ONLY_ENV


def test_a_real_job_that_fails_is_notified_by_the_runner(ws: Workspace, alice: Actor) -> None:
    with Receiver() as receiver:
        runner = RunnerThread(ws).start()
        try:
            job = ws.jobs.submit(
                alice,
                notebook=make_notebook("raise ValueError('no data')"),
                notebook_name="report.ipynb",
                notify={"webhook": {"url": receiver.url, "secret_name": "ops"}},
            )
            deadline = time.monotonic() + 120
            while not ws.jobs.get(alice, job.id).notices and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            runner.stop()
    info = ws.jobs.get(alice, job.id)
    assert info.status == "failed" and info.notices[0]["status"] == "delivered"
    [(headers, body)] = receiver.requests
    assert _verified(headers, body)
    sent = json.loads(body)["job"]
    assert sent["status"] == "failed" and "ValueError" in json.dumps(sent["reason"])


def test_a_schedule_checks_and_passes_on_its_notify(ws: Workspace, alice: Actor) -> None:
    template = ws.templates.publish(alice, make_notebook("1"), "finance/nightly").name
    with pytest.raises(InvalidInput, match="is not an e-mail address"):
        ws.schedules.create(
            alice, template, cron="0 6 * * *", options={"notify": {"email": ["nobody"]}}
        )
    made = ws.schedules.create(
        alice, template, cron="0 6 * * *", options={"notify": {"email": ["ana@example.org"]}}
    )
    assert made.options["notify"] == {
        "on": ["cancelled", "failed", "lost"],
        "webhook": [],
        "email": ["ana@example.org"],
    }


def test_a_group_end_is_posted_as_group_ended(ws: Workspace) -> None:
    group = GroupInfo(
        id="g1",
        kind="pipeline",
        name="finance/etl",
        submitted_by="alice",
        team="finance",
        status="failed",
        created_at=datetime.now(UTC),
        ended_at=datetime.now(UTC),
        jobs=[{"id": "j", "status": "failed"}],
    )
    with Receiver() as receiver:
        spec = {"on": ["failed"], "webhook": [{"url": receiver.url, "secret_name": "ops"}]}
        assert deliver_group_end(ws.settings, {**spec, "on": ["succeeded"]}, group) == []
        [notice] = deliver_group_end(ws.settings, spec, group)
    [(headers, body)] = receiver.requests
    assert _verified(headers, body) and headers["X-Lepton-Event"] == "group.ended"
    sent = json.loads(body)
    assert sent["group"]["name"] == "finance/etl" and "jobs" not in sent["group"]
    assert notice["status"] == "delivered"


def test_the_command_line_options_make_a_spec() -> None:
    assert notify_spec((), (), ()) is None
    assert notify_spec(("a@b.org",), ("https://h/x",), ("succeeded", "failed")) == {
        "email": ["a@b.org"],
        "webhook": ["https://h/x"],
        "on": ["succeeded", "failed"],
    }


def test_the_command_line_submits_a_spec_and_shows_the_notices(tmp_path: Path) -> None:
    home, path = tmp_path / "cli-home", tmp_path / "fails.ipynb"
    path.write_bytes(make_notebook("raise ValueError('x')"))
    ws = Workspace(Settings(home=home, user="alice", auto_start_runner=False))
    try:
        with Receiver() as receiver:
            invoke = CliRunner(env={"COLUMNS": "200"}).invoke
            args = ["--home", str(home), "run", str(path), "--notify-webhook", receiver.url]
            bad = invoke(cli, [*args[:4], "--notify-on", "failed"])
            assert bad.exit_code == 2 and "--notify-on needs" in bad.output
            submitted = invoke(cli, [*args, "--notify-on", "failed"], catch_exceptions=False)
            job_id = submitted.stdout.strip()
            with ws.db.write() as session:
                session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(status="failed", ended_at=datetime.now(UTC))
                )
            assert deliver_due(ws) == [job_id]
        shown = invoke(cli, ["--home", str(home), "jobs", "show", job_id], catch_exceptions=False)
        assert "notifications" in shown.output and "delivered" in shown.output
        assert len(receiver.requests) == 1
    finally:
        ws.close()


def test_a_pipeline_run_tells_its_end_once(ws: Workspace, alice: Actor) -> None:
    template = ws.templates.publish(alice, make_notebook("print(n)", parameters="n = 1\n"),
                                    "finance/step").name  # fmt: skip
    flow = {"steps": {"only": {"template": template, "parameters": {"n": 2}}}}
    ws.pipelines.publish(alice, flow, "finance/flow")
    with Receiver() as receiver:
        notify = {"on": ["succeeded"], "webhook": [{"url": receiver.url, "secret_name": "ops"}]}
        with pytest.raises(InvalidInput):
            ws.pipelines.run(alice, "finance/flow", notify={"on": ["succeeded"], "sms": ["1"]})
        run = ws.pipelines.run(alice, "finance/flow", notify=notify)
        job_id = run.group.jobs[0]["id"]
        asyncio.run(run_until_done(ws, [job_id], RunnerConfig(concurrency=1, pool_size=1)))
        # The runner's own loop may have ended the run before it stopped.
        assert ws.pipelines.advance() in ([run.id], [])
        assert ws.pipelines.advance() == []  # ended once: told once
    [(headers, body)] = receiver.requests
    assert _verified(headers, body) and headers["X-Lepton-Event"] == "group.ended"
    assert json.loads(body)["group"]["status"] == "succeeded"
    [notice] = ws.groups.get(alice, run.id).definition["notices"]
    assert notice["status"] == "delivered" and "secret" not in json.dumps(notice)
