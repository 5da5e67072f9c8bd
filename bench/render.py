"""Renders per second for an SMS, a push and a ~20 KB email template (one core).

    python bench/render.py              # ~2 s per template
    python bench/render.py --n 200      # tiny run for CI, just keeps the script working

Rendering must not be the bottleneck of a send: the targets are over 20,000 SMS renders/s
and 2,500 renders/s of the 20 KB email. ``email-ref`` renders the same email the reference
way (``plan_emails=False``: parse every rendered body), for before/after figures.

Time is CPU time per batch and the figure is the best batch, so a shared, loaded machine
(which preempts or throttles the process) still gives comparable numbers; the median batch
is printed too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from templates import (  # noqa: E402
    EmailContent,
    LocaleOverride,
    PushContent,
    Renderer,
    RenderLimits,
    SmsContent,
    TemplateContent,
)

SMS_TARGET = 20_000
EMAIL_TARGET = 2_500
# A generous deadline: a stall of the whole process on a loaded machine must not end the run.
LIMITS = RenderLimits(deadline_seconds=10)

CONTACT = {
    "external_id": "c-1",
    "locale": "pt-BR",
    "timezone": "America/Sao_Paulo",
    "attributes": {"first_name": "Ana", "tier": "gold", "points": 1250},
}
DATA = {"order_id": "A-1042", "total": "129.90", "currency": "BRL", "items": ["Shoes", "Socks"]}
MESSAGE = {"id": "m-1", "unsubscribe_url": "https://chorus.example/u/m-1"}


def _email_html() -> str:
    row = (
        '<tr><td class="item" style="padding:8px;border-bottom:1px solid #eee">'
        "{{ item }}</td><td style=\"text-align:right\">{{ loop.index }}</td></tr>\n"
    )
    filler = (
        '<p style="font-family:Helvetica,Arial,sans-serif;font-size:14px;line-height:20px">'
        "Thanks for shopping with us, {{ contact.attributes.first_name|default('friend') }}. "
        'Track your order <a href="https://shop.example/orders/{{ data.order_id }}">here</a>.</p>\n'
    )
    body = filler * 80
    return (
        "<!doctype html><html><head><style>td{font-size:14px}</style></head><body>"
        "<h1>Order {{ data.order_id }}</h1><table>{% for item in data['items'] %}" + row +
        "{% endfor %}</table>" + body +
        "<p>Total: {{ data.total|money(data.currency) }}</p>"
        '<a href="{{ message.unsubscribe_url }}">Unsubscribe</a></body></html>'
    )  # fmt: skip


CONTENT = TemplateContent(
    category="transactional",
    sms=SmsContent(
        body="Hi {{ contact.attributes.first_name|default('there') }}, order {{ data.order_id }} "
        "has shipped. {{ blocks.footer }}"
    ),
    push=PushContent(
        title="Order {{ data.order_id }} shipped",
        body="{{ contact.attributes.first_name|title }}, it is on its way!",
        deep_link="shop://orders/{{ data.order_id }}",
        data={"order_id": "{{ data.order_id }}"},
        sound="default",
    ),
    email=EmailContent(subject="Your order {{ data.order_id }}", preheader="It is on its way", html=_email_html()),
    blocks={"footer": "Reply STOP to opt out"},
    locales={"pt": LocaleOverride(blocks={"footer": "Responda SAIR para sair"})},
)


def measure(renderer: Renderer, channel: str, *, seconds: float | None, n: int | None) -> tuple[int, list[float]]:
    """Render in batches; returns the count and the CPU seconds per render of each batch."""
    kwargs = dict(contact=CONTACT, data=DATA, message=MESSAGE, cache_key=("bench", 1))
    if channel == "email":
        kwargs["link_wrapper"] = lambda url: "https://t.chorus.example/c?u=" + url
        kwargs["open_pixel_url"] = "https://t.chorus.example/o/m-1.gif"
    renderer.render(CONTENT, channel, **kwargs)  # compile outside the clock
    batch = 50 if channel in ("sms", "push") else 5
    count, per_render, started = 0, [], time.perf_counter()
    while True:
        cpu = time.process_time()
        for _ in range(batch):
            renderer.render(CONTENT, channel, **kwargs)
        per_render.append((time.process_time() - cpu) / batch)
        count += batch
        elapsed = time.perf_counter() - started
        if (n is not None and count >= n) or (n is None and elapsed >= seconds):
            return count, sorted(per_render)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per template")
    parser.add_argument("--n", type=int, default=None, help="renders per template (overrides --seconds)")
    parser.add_argument("--quick", action="store_true", help="a tiny run that only proves the script works")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = 50
    renderers = {"planned": Renderer(LIMITS), "reference": Renderer(LIMITS, plan_emails=False)}
    size = len(CONTENT.email.html.encode())
    print(f"email template source: {size / 1024:.1f} KiB")
    rates = {}
    for name, channel, renderer in (
        ("sms", "sms", renderers["planned"]),
        ("push", "push", renderers["planned"]),
        ("email", "email", renderers["planned"]),
        ("email-ref", "email", renderers["reference"]),
    ):
        count, per_render = measure(renderer, channel, seconds=args.seconds, n=args.n)
        best, median = per_render[0], per_render[len(per_render) // 2]
        rates[name] = 1 / best
        print(f"{name:9} {rates[name]:>10,.0f} renders/s  ({best * 1e6:8.1f} µs best, {median * 1e6:8.1f} µs median batch; {count} renders)")
    print(f"email planned vs reference: {rates['email'] / rates['email-ref']:.1f}x")
    for name, target in (("sms", SMS_TARGET), ("email", EMAIL_TARGET)):
        print(f"{name} target {target:,}/s per core: {'meets' if rates[name] >= target else 'BELOW'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
