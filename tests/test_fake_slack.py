"""Checks that FakeSlack speaks enough Slack Web API for a real slack_sdk client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

try:  # works whether or not tests/ is a package
    from tests.fake_slack import FakeSlack
except ImportError:  # pragma: no cover
    from fake_slack import FakeSlack  # type: ignore[no-redef]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.url)


def test_post_message_records_channel_blocks_and_token(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    r1 = client.chat_postMessage(channel="C1", text="hi", blocks=blocks)
    r2 = client.chat_postMessage(channel="C1", text="again")
    assert r1["channel"] == "C1" and r1["message"]["blocks"] == blocks
    assert float(r2["ts"]) > float(r1["ts"])
    call = fake.wait_for("chat.postMessage", 2)[0]
    assert call.params["channel"] == "C1"
    assert call.params["blocks"] == blocks
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert client.auth_test()["user_id"] == "UBOT"


def test_rate_limit_then_retry_succeeds(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=0)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    calls = fake.calls_to("chat.postMessage")
    assert [c.failed_status for c in calls] == [429, None]


def test_server_error_without_handler_raises(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.update", status=500)
    with pytest.raises(SlackApiError):
        client.chat_update(channel="C1", ts="1.2", text="x")
    assert fake.calls_to("chat.update")[0].failed_status == 500
    assert client.chat_update(channel="C1", ts="1.2", text="y")["text"] == "y"


def test_set_response_and_reset(fake: FakeSlack, client: WebClient) -> None:
    fake.set_response("users.info", {"ok": True, "user": {"id": "U9", "tz": "Europe/Paris"}})
    assert client.users_info(user="U9")["user"]["tz"] == "Europe/Paris"
    fake.reset()
    assert fake.calls == []
    assert client.users_info(user="U9")["user"]["tz"] == "UTC"
    assert client.views_publish(user_id="U9", view={"type": "home", "blocks": []})["view"]["type"] == "home"


def test_files_upload_v2_goes_through_three_steps(fake: FakeSlack, client: WebClient) -> None:
    resp = client.files_upload_v2(channel="C1", content="a,b\n1,2\n", filename="r.csv", title="Report")
    assert [c.method for c in fake.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert fake.calls_to("upload")[0].body == b"a,b\n1,2\n"
    done = fake.calls_to("files.completeUploadExternal")[0]
    assert done.params["files"][0]["title"] == "Report"
    assert done.params["channel_id"] == "C1"
    assert resp["file"]["id"] == done.params["files"][0]["id"]


def test_response_url_post_is_recorded(fake: FakeSlack) -> None:
    resp = WebhookClient(fake.response_url("abc")).send(text="done", replace_original=True)
    assert resp.status_code == 200 and resp.body == "ok"
    call = fake.wait_for("response_url")[0]
    assert call.path == "/response/abc"
    assert call.params == {"text": "done", "replace_original": True}


def test_wait_for_times_out_with_listing(fake: FakeSlack, client: WebClient) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match="auth.test"):
        fake.wait_for("chat.postMessage", timeout=0.2)


def test_unknown_path_is_404(fake: FakeSlack) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(fake.base + "/nope", data=b"")
    assert info.value.code == 404
