"""Notices: render a unit's reminder for one stage and send it at most once through the outbox.

``render`` turns plain values into a MIME message (Jinja2 templates in ``templates/notices``);
``outbox`` keeps the (unit, period, stage, channel) bookkeeping and calls a sender passed in,
so this package imports no connector.
"""

from duban.notices.outbox import DeliveryReport, Sender, SendResult, deliver, plan_notices
from duban.notices.render import InvalidField, NoticeContext, NoticeItem, message_id, render_notice

__all__ = [
    "DeliveryReport",
    "InvalidField",
    "NoticeContext",
    "NoticeItem",
    "SendResult",
    "Sender",
    "deliver",
    "message_id",
    "plan_notices",
    "render_notice",
]
