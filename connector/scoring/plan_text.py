"""The words of an account plan's task: the leading reason in full, the others ranked, the step, the history.

Why a separate module: what a CSM reads is the product.  Every task must say why it exists, where the
customer is, the next milestone and what to bring (the play's template guarantees that for the leading
reason); a merged task adds the other reasons most important first, each with its own "bring", so one task
is one plan for the account.  The history says what happened to the task and why it moved on — never "no
result" without evidence.
"""

from __future__ import annotations

from connector.records import TaskChannel
from connector.scoring.context import TemplateContext
from connector.scoring.model import SuccessModel

CHANNEL_TEXT = {
    "email": "email from the account owner",
    "email_other_sender": "a different email from another person (manager or exec sponsor)",
    "sms": "SMS / messenger",
    "call": "phone call by the CSM",
    "task": "internal task",
}


def render_plan(model: SuccessModel, context: TemplateContext, others: list[str], lead: str, step: int,
                ladder: tuple[TaskChannel, ...], history: list[str]) -> tuple[str, str]:
    """Subject and body of one plan task (``others``: the merged plays after the lead, most important first)."""
    play = model.plays[lead]
    context.set("step", step + 1)
    context.set("channel", CHANNEL_TEXT[ladder[step]])
    context.set("reason", play.reason.format_map(context))
    context.set("bring", play.bring.format_map(context))
    subject = play.subject.format_map(context)
    body = play.body.format_map(context)
    if len(ladder) > 1:
        body += f"\nStep {step + 1} of {len(ladder)}: {CHANNEL_TEXT[ladder[step]]}."
    if others:
        subject += f" (+{len(others)} more on this account's plan)"
        body += "\n\nAlso on this account's plan, most important first:"
        for rank, name in enumerate(others, start=2):
            other = model.plays[name]
            context.set("reason", other.reason.format_map(context))
            context.set("bring", other.bring.format_map(context))
            body += (f"\n{rank}. {other.subject.format_map(context)}\n   Why: {context['reason']}\n"
                     f"   Bring: {context['bring']}")
    if history:
        body += "\n\nHistory:\n" + "\n".join(f"- {line}" for line in history)
    return subject[:255], body
