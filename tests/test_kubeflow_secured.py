"""`submit`, `schedule` and `follow` against a stand-in of a secured multi-user host.

Real HTTP and real TLS on 127.0.0.1: the stand-in requires a bearer token,
answers 403 for a namespace the token may not use, serves HTTPS with a
certificate from a CA each test module makes, and moves a run through task
states so `--wait` is followed to success, failure and timeout.
"""

from __future__ import annotations

import os

import pytest
import yaml

from kubeflow.compile import compile_pipeline
from kubeflow.connection import Connection
from kubeflow.follow import Follower
from pipeline.cli import main
from pipeline.config_file import load_config
from pipeline.errors import FollowStopped
from tests.conftest import COMPONENTS
from tests.kfp_fake_server import FakeKfp, free_port, progress
from tests.tls import make_certificates

TOKEN = "s3cr3t-token-7f1e9d"
OTHER_TOKEN = "an-expired-token-0000"
TASKS = COMPONENTS  # the pipeline's tasks, in order


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """No settings file, kfp context or token variable of the machine's user."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KF_PIPELINES_SA_TOKEN_PATH", raising=False)
    monkeypatch.delenv("MULTIHEAD_KUBEFLOW_SETTINGS", raising=False)


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("pkg") / "taxi-multihead.yaml"
    return compile_pipeline(load_config(), str(path), data_root="gs://bucket/data")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def token_file(tmp_path) -> str:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def secured(certs, **kwargs) -> FakeKfp:
    """A multi-user host over HTTPS where TOKEN may use namespace team-a only."""
    return FakeKfp(tokens={TOKEN: {"team-a"}}, tls=(certs.server_cert, certs.server_key), **kwargs)


def options(kfp: FakeKfp, certs, token_file: str, namespace: str = "team-a") -> list[str]:
    return [
        "--host",
        kfp.host,
        "--namespace",
        namespace,
        "--token-file",
        token_file,
        "--ca-cert",
        certs.ca,
    ]


def test_submit_to_a_secured_host_sends_the_token_in_the_namespace(
    package, certs, token_file, capsys
):
    with secured(certs) as kfp:
        code = main(["submit", "--package", package, *options(kfp, certs, token_file)])
        requests = list(kfp.requests)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"started run r-1 of taxi-multihead on {kfp.host}, namespace team-a" in out
    assert f"Run details: {kfp.host}/#/runs/details/r-1" in out  # printed by kfp
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in requests)
    upload = next(r for r in requests if r.path.endswith("/pipelines/upload"))
    assert upload.query["namespace"] == ["team-a"]
    experiment = next(r for r in requests if r.method == "POST" and r.path.endswith("experiments"))
    assert experiment.json()["namespace"] == "team-a"
    assert requests[-1].path == "/apis/v2beta1/runs"


def test_no_credential_is_refused_naming_the_host_and_what_to_pass(package, certs, capsys):
    with secured(certs) as kfp:
        code = main(
            ["submit", "--package", package, "--host", kfp.host, "--namespace", "team-a"]
            + ["--ca-cert", certs.ca]
        )
    err = capsys.readouterr().err
    assert code == 1
    assert f"{kfp.host} answered 401" in err
    assert "no credential was sent; pass a token with --token-file" in err
    assert "KF_PIPELINES_SA_TOKEN_PATH" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_refused_token_is_named_by_its_file_not_its_value(package, certs, tmp_path, capsys):
    stale = tmp_path / "stale-token"
    stale.write_text(OTHER_TOKEN)
    with secured(certs) as kfp:
        code = main(["submit", "--package", package, *options(kfp, certs, str(stale))])
    err = capsys.readouterr().err
    assert code == 1
    assert f"answered 401 Unauthorized: the token in {stale} was not accepted" in err
    assert OTHER_TOKEN not in err


def test_a_namespace_the_token_may_not_use_gives_the_hosts_own_message(
    package, certs, token_file, capsys
):
    with secured(certs) as kfp:
        code = main(
            ["submit", "--package", package, *options(kfp, certs, token_file, namespace="team-b")]
        )
    err = capsys.readouterr().err
    assert code == 1
    assert "answered 403 Forbidden for namespace 'team-b'" in err
    assert "User 'ci@example.com' is not authorized in namespace 'team-b'" in err


def test_a_session_cookie_file_is_sent_as_the_cookie(package, certs, tmp_path, capsys):
    cookie = tmp_path / "cookie"
    cookie.write_text(f"authservice_session={TOKEN}\n")
    with secured(certs) as kfp:
        code = main(
            ["submit", "--package", package, "--host", kfp.host, "--namespace", "team-a"]
            + ["--cookie-file", str(cookie), "--ca-cert", certs.ca]
        )
        sent = {r.headers.get("cookie") for r in kfp.requests}
    assert code == 0, capsys.readouterr().err
    assert sent == {f"authservice_session={TOKEN}"}


def test_a_multi_user_host_without_a_namespace_asks_for_one(package, certs, token_file, capsys):
    with secured(certs) as kfp:
        code = main(
            ["submit", "--package", package, "--host", kfp.host]
            + ["--token-file", token_file, "--ca-cert", certs.ca]
        )
        posted = [r for r in kfp.requests if r.method == "POST"]
    assert code == 2
    assert "is a multi-user Kubeflow: pass --namespace" in capsys.readouterr().err
    assert posted == []  # refused before anything was uploaded


def test_an_untrusted_certificate_names_the_host_and_ca_cert(
    package, certs, token_file, tmp_path, capsys
):
    stranger = make_certificates(str(tmp_path / "other"), ca_name="some other CA")
    with secured(certs) as kfp:
        without = main(
            ["submit", "--package", package, "--host", kfp.host, "--namespace", "team-a"]
            + ["--token-file", token_file]
        )
        without_err = capsys.readouterr().err
        wrong = main(
            ["submit", "--package", package, *options(kfp, certs, token_file)[:-1], stranger.ca]
        )
        wrong_err = capsys.readouterr().err
    assert without == 1 and wrong == 1
    assert f"cannot verify the TLS certificate of {kfp.host}" in without_err
    assert "pass the CA that signed it with --ca-cert" in without_err
    assert f"it is not signed by --ca-cert {stranger.ca}" in wrong_err
    assert "Traceback" not in without_err + wrong_err


def test_a_settings_file_keeps_the_cron_line_short(package, certs, tmp_path, capsys):
    (tmp_path / "token").write_text(TOKEN)
    settings = tmp_path / "kubeflow.yaml"
    with secured(certs) as kfp:
        settings.write_text(
            yaml.safe_dump(
                {
                    "host": kfp.host,
                    "namespace": "team-a",
                    "token_file": "token",  # relative to the settings file
                    "ca_cert": certs.ca,
                    "experiment": "nightly",
                }
            )
        )
        code = main(
            ["schedule", "--settings", str(settings), "--package", package]
            + ["--cron", "0 0 3 * * *"]
        )
        experiment = next(
            r for r in kfp.requests if r.method == "POST" and r.path.endswith("experiments")
        )
        last = kfp.paths()[-1]
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"scheduled taxi-multihead on {kfp.host}, namespace team-a" in out
    assert experiment.json() == {"display_name": "nightly", "namespace": "team-a"}
    assert last == ("POST", "/apis/v2beta1/recurringruns")


def test_a_settings_file_may_not_hold_the_secret_itself(tmp_path, capsys):
    settings = tmp_path / "kubeflow.yaml"
    settings.write_text(yaml.safe_dump({"host": "https://kfp.example.com", "token": TOKEN}))
    code = main(["follow", "r-1", "--settings", str(settings)])
    err = capsys.readouterr().err
    assert code == 2
    assert "'token' would put a secret in the settings" in err and "token_file" in err
    assert TOKEN not in err


def test_the_token_path_comes_from_kfps_own_variable(
    package, certs, token_file, monkeypatch, capsys
):
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", token_file)
    with secured(certs) as kfp:
        code = main(
            ["submit", "--package", package, "--host", kfp.host]
            + ["--namespace", "team-a", "--ca-cert", certs.ca]
        )
        sent = {r.headers.get("authorization") for r in kfp.requests}
    assert code == 0, capsys.readouterr().err
    assert sent == {f"Bearer {TOKEN}"}


def test_wait_follows_every_task_to_success(package, certs, token_file, capsys):
    with secured(certs, runs=progress(TASKS, cached=("CsvExampleGen",))) as kfp:
        code = main(
            ["submit", "--package", package, *options(kfp, certs, token_file)]
            + ["--wait", "--poll", "0.01", "--timeout", "60"]
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert "following run r-1 (Ctrl-C stops following; the run goes on)" in out
    assert any(line.endswith("CsvExampleGen: cached") for line in lines)
    for name in TASKS[1:]:
        running = next(i for i, line in enumerate(lines) if line.endswith(f"{name}: running"))
        done = next(i for i, line in enumerate(lines) if line.endswith(f"{name}: succeeded"))
        assert running < done
    assert "driver" not in out  # KFP's driver tasks are not the pipeline's
    assert "run r-1 succeeded after 0:0" in lines[-1]


def test_wait_on_a_failed_run_names_the_task_and_its_logs(package, certs, token_file, capsys):
    with secured(certs, runs=progress(TASKS, fail="MultiHeadTrainer")) as kfp:
        code = main(
            ["submit", "--package", package, *options(kfp, certs, token_file)]
            + ["--wait", "--poll", "0.01"]
        )
    out, err = capsys.readouterr()
    assert code == 1
    assert any(line.endswith("MultiHeadTrainer: failed") for line in out.splitlines())
    assert "run r-1 failed: task MultiHeadTrainer failed (The executor exited with code 1)" in err
    assert "logs: kubectl logs -n team-a taxi-run-multiheadtrainer-pod -c main" in err
    assert f"details: {kfp.host}/#/runs/details/r-1" in err
    assert "MultiHeadEvaluator" not in out  # never started


def test_wait_stops_at_its_timeout_without_cancelling(package, certs, token_file, capsys):
    with secured(certs, runs=progress(TASKS)[:3]) as kfp:  # stays on StatisticsGen
        code = main(
            ["submit", "--package", package, *options(kfp, certs, token_file)]
            + ["--wait", "--poll", "0.05", "--timeout", "0.5s"]
        )
        methods = {r.method for r in kfp.requests if r.path.startswith("/apis/v2beta1/runs/")}
    err = capsys.readouterr().err
    assert code == 4
    assert "stopped following run r-1 after 0:00 (--timeout): it is still running" in err
    assert f"multihead follow r-1 --host {kfp.host} --namespace team-a" in err
    assert methods == {"GET"}  # looked at, never terminated


def test_follow_by_run_id_reads_the_pipelines_tasks_from_the_host(
    package, certs, token_file, capsys
):
    with open(package) as f:
        spec = yaml.safe_load(f)
    with secured(certs, runs=progress(TASKS)) as kfp:
        kfp.spec = spec  # as uploaded by an earlier submit
        code = main(["follow", "r-1", *options(kfp, certs, token_file), "--poll", "0.01"])
        paths = kfp.paths()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert ("GET", "/apis/v2beta1/pipelines/p-1/versions/v-1") in paths
    assert "driver" not in out and "run r-1 succeeded after" in out.splitlines()[-1]


def test_ctrl_c_stops_following_and_leaves_the_run_alone(certs, token_file):
    def interrupted(_seconds):
        raise KeyboardInterrupt

    with secured(certs, runs=progress(TASKS)) as kfp:
        connection = Connection(
            kfp.host, namespace="team-a", token_file=token_file, ca_cert=certs.ca
        )
        follower = Follower(
            connection.kfp_client(), connection, "r-1", poll=0.01, sleep=interrupted
        )
        with pytest.raises(FollowStopped, match="the run goes on \\(not cancelled\\)") as raised:
            follower.run()
        methods = {r.method for r in kfp.requests}
    assert raised.value.exit_code == 130
    assert methods == {"GET"}


def test_no_command_writes_the_token_anywhere(
    package, certs, token_file, tmp_path, monkeypatch, capsys, caplog
):
    """compile, submit --wait, schedule and follow: terminal, logs, files, uploads."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", token_file)
    caplog.set_level("DEBUG")
    with secured(certs, runs=progress(TASKS)) as kfp:
        common = ["--host", kfp.host, "--namespace", "team-a", "--ca-cert", certs.ca]
        assert main(["compile", "--output", "taxi-multihead.yaml"]) == 0
        assert main(["submit", *common, "--wait", "--poll", "0.01"]) == 0
        assert main(["schedule", *common, "--cron", "0 0 3 * * *"]) == 0
        assert main(["follow", "r-1", *common, "--poll", "0.01"]) == 0
        uploads = b"".join(r.body for r in kfp.requests)
    out, err = capsys.readouterr()
    written = []
    for folder, _, files in os.walk(tmp_path):
        written += [os.path.join(folder, name) for name in files]
    assert os.path.join(str(work), "taxi-multihead.yaml") in written
    for path in written:
        if path == token_file:
            continue
        with open(path, "rb") as f:
            assert TOKEN.encode() not in f.read(), path
    assert TOKEN not in out + err + caplog.text
    assert TOKEN.encode() not in uploads


def test_bad_options_are_refused_before_any_request(package, tmp_path, capsys):
    host = ["--host", "https://127.0.0.1:9", "--package", package]
    assert main(["submit", *host, "--timeout", "10m"]) == 2
    assert "--timeout bounds --wait; add --wait" in capsys.readouterr().err
    assert main(["submit", *host, "--wait", "--timeout", "ten"]) == 2
    assert "--timeout 'ten': give seconds" in capsys.readouterr().err
    assert main(["submit", *host, "--ca-cert", str(tmp_path / "nope.pem")]) == 2
    assert "nope.pem does not exist" in capsys.readouterr().err
    empty = tmp_path / "token"
    empty.write_text("\n")
    assert main(["follow", "r-1", "--host", "https://127.0.0.1:9", "--token-file", str(empty)]) == 2
    assert f"--token-file {empty} is empty" in capsys.readouterr().err
    assert main(["follow", "r-1"]) == 2
    assert "no Kubeflow Pipelines host: pass --host" in capsys.readouterr().err


def test_a_rotated_token_file_is_read_again_on_the_next_request(certs, tmp_path):
    """kubelet rotates projected tokens; a long follow must pick up the new one."""
    path = tmp_path / "rotating-token"
    path.write_text(OTHER_TOKEN)
    kfp = FakeKfp(
        tokens={OTHER_TOKEN: {"team-a"}, TOKEN: {"team-a"}},
        tls=(certs.server_cert, certs.server_key),
        runs=progress(TASKS),
    )

    def rotate(_seconds):
        path.write_text(TOKEN)
        kfp.tokens.pop(OTHER_TOKEN, None)  # the old token expires

    with kfp:
        connection = Connection(
            kfp.host, namespace="team-a", token_file=str(path), ca_cert=certs.ca
        )
        Follower(connection.kfp_client(), connection, "r-1", poll=0.01, sleep=rotate).run()
        sent = [r.headers["authorization"] for r in kfp.requests]
    assert sent[0] == f"Bearer {OTHER_TOKEN}" and sent[-1] == f"Bearer {TOKEN}"


def test_a_host_that_stops_answering_for_a_moment_is_followed_on(certs, token_file, capsys):
    """A network blip (an ingress restarting) is not the run failing."""
    port = free_port()
    connection = Connection(
        f"https://127.0.0.1:{port}", namespace="team-a", token_file=token_file, ca_cert=certs.ca
    )
    hosts: list[FakeKfp] = []

    def host_comes_back(_seconds):
        if not hosts:
            hosts.append(secured(certs, runs=progress(TASKS[:2]), port=port).__enter__())

    try:
        follower = Follower(
            connection.kfp_client(), connection, "r-1", poll=0.01, sleep=host_comes_back
        )
        assert follower.run() == "SUCCEEDED"
    finally:
        for host in hosts:
            host.__exit__(None, None, None)
    out = capsys.readouterr().out
    assert f"note: reading the run failed: cannot reach https://127.0.0.1:{port}" in out
    assert "trying again" in out and "run r-1 succeeded" in out
