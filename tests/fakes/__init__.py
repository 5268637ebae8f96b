"""Local fakes of the external services our nodes call; they record what they receive.

See ``server.py`` for the runner and ``fixtures.py`` for the pytest fixtures.
"""

from tests.fakes.echo import FakeEcho
from tests.fakes.sendgrid import SENDGRID_KEY, FakeSendGrid, SentMail
from tests.fakes.server import DEFAULT_HOST, FakeServer, RecordedRequest
from tests.fakes.slack import RATE_LIMITED_CHANNEL, SLACK_TOKEN, FakeSlack, SlackMessage

__all__ = [
    "DEFAULT_HOST",
    "RATE_LIMITED_CHANNEL",
    "SENDGRID_KEY",
    "SLACK_TOKEN",
    "FakeEcho",
    "FakeSendGrid",
    "FakeServer",
    "FakeSlack",
    "RecordedRequest",
    "SentMail",
    "SlackMessage",
]
