# SPDX-License-Identifier: BSD-3-Clause
"""Dotted configuration keys the tests override with --set, in one place
(the names are those of etc/mxedge.example.yaml and engine/conf)."""

MAX_COMMAND_LINE = "smtp.max_command_line"
MAX_MESSAGE_SIZE = "smtp.max_message_size"
MAX_RECIPIENTS = "smtp.max_recipients"
MAX_ERRORS = "smtp.max_errors"
GREETING_DELAY = "smtp.greeting_delay"
TIMEOUT_GREETING = "smtp.timeout_greeting"
TIMEOUT_COMMAND = "smtp.timeout_command"
TIMEOUT_DATA = "smtp.timeout_data"
MAX_CONNECTIONS = "smtp.max_connections"
MAX_CONNECTIONS_PER_CLIENT = "smtp.max_connections_per_client"
BARE_LF = "smtp.bare_lf"
TIMEOUT_REPLY = "delivery.timeout_reply"


def kv(key, value):
    return "%s=%s" % (key, value)
