"""Customer service: chats with Dutch messages (multi-line bodies) and telephone calls with
transcripts.

Background texts contain no digit runs longer than eight digits, so SEC-002/004/006 find nothing
in them; scenarios add the card numbers, BSNs and IBANs that customers paste now and then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .context import Ctx, Cust
from . import sharing

CHANNELS = ("chat", "chat", "email", "webform", "social_dm")

# (customer opening, agent reply, customer follow-up, agent close); {v} are filled in.
SCRIPTS: tuple[tuple[str, str, str, str], ...] = (
    ("Goedemiddag, mijn bestelling {order} is nog steeds niet bezorgd. Kunt u kijken waar het pakket is?",
     "Hallo {first}, dank voor uw bericht. Ik zie dat het pakket gisteren is overgedragen aan de bezorger.\nU ontvangt vandaag nog een track & trace.",
     "Top, dank u wel!",
     "Graag gedaan. Fijne dag verder!"),
    ("Hoi, ik wil de {product} retourneren. Hij past niet bij de rest van de keuken.",
     "Dat kan natuurlijk. U heeft 30 dagen bedenktijd.\nIk stuur u een retourlabel per e-mail.",
     "Moet ik de originele doos gebruiken?",
     "Dat is niet nodig, als het product maar goed verpakt is."),
    ("Ik heb twee keer betaald voor bestelling {order}, kunnen jullie het geld terugstorten?",
     "Excuses voor het ongemak, {first}. Ik zie inderdaad een dubbele betaling.\nDe terugbetaling staat klaar en is binnen 5 werkdagen op uw rekening.",
     "Oké, ik wacht het af.",
     "Mocht het niet lukken, laat het ons gerust weten."),
    ("Goedemorgen,\nde {product} doet het niet meer na twee weken. Wat nu?",
     "Wat vervelend! Het product valt onder de garantie.\nKunt u een foto of korte video sturen van het probleem?",
     "Ik stuur vanavond een filmpje.",
     "Prima, dan zetten we daarna direct een vervangend exemplaar klaar."),
    ("Kan ik mijn bezorgadres nog wijzigen? Ik ben volgende week niet thuis.",
     "Dat kan zolang het pakket nog niet is verzonden. Ik heb het adres aangepast.",
     "Fijn, bedankt voor de snelle hulp.",
     "Graag gedaan, {first}!"),
    ("Hallo, mijn kortingscode werkt niet bij het afrekenen.",
     "Ik heb de code gecontroleerd: die was geldig tot en met gisteren.\nIk geef u een nieuwe code van 10 procent.",
     "Super, dank je!",
     "Veel plezier met uw aankoop."),
)

CALLS: tuple[str, ...] = (
    "Agent: Goedemiddag, klantenservice, u spreekt met Sanne.\nKlant: Hallo, ik bel over mijn bestelling {order}, die is beschadigd aangekomen.\nAgent: Wat vervelend. Ik stuur u een retourlabel en we sturen een nieuw exemplaar.\nKlant: Dank u wel.",
    "Agent: Goedemorgen, met Mark.\nKlant: Ik wil graag weten wanneer de {product} weer op voorraad is.\nAgent: Naar verwachting over twee weken. Ik kan u een mail sturen zodra hij binnen is.\nKlant: Graag.",
    "Agent: Klantenservice, goedemiddag.\nKlant: Ik kan niet inloggen op mijn account.\nAgent: Ik stuur u een link om uw wachtwoord opnieuw in te stellen.\nKlant: Ik heb hem ontvangen, het werkt weer.",
)


def _fill(text: str, c: Cust, order: str | None, product: str) -> str:
    return text.format(first=c.first_name or "klant", order=order or "van vorige week",
                       product=product)


def make_chat(ctx: Ctx, c: Cust, started: datetime, messages: list[tuple[str, str]],
              handled_by: str | None = None, channel: str | None = None) -> tuple[str, list[str]]:
    """Write a chat and its messages ``[(sender_role, body)]``; returns (chat_id, message_ids)."""
    r = ctx.rng
    chat_id = ctx.nid("CH", 8)
    ctx.emit("chats", {"chat_id": chat_id, "customer_id": c.cid,
                       "channel": channel or r.choice(CHANNELS), "started_at": started,
                       "handled_by_recipient_id": handled_by})
    ids, t = [], started
    for role, body in messages:
        mid = ctx.nid("M", 9)
        ctx.emit("chat_messages", {"message_id": mid, "chat_id": chat_id, "sent_at": t,
                                   "sender_role": role, "body": body})
        ids.append(mid)
        t = t + timedelta(seconds=r.randint(20, 400))
    return chat_id, ids


def script(ctx: Ctx, c: Cust, order: str | None = None) -> list[tuple[str, str]]:
    s = ctx.rng.choice(SCRIPTS)
    product = ctx.rng.choice(("waterkoker", "stofzuiger", "bureaulamp", "koffiezetapparaat", "speaker"))
    roles = ("customer", "agent", "customer", "agent")
    n = ctx.rng.randint(2, 4)
    return [(roles[i], _fill(s[i], c, order, product)) for i in range(n)]


def make_call(ctx: Ctx, c: Cust, started: datetime, transcript: str, recorded: bool = False,
              duration: int | None = None) -> str:
    cid = ctx.nid("CALL", 8)
    ctx.emit("calls", {"call_id": cid, "customer_id": c.cid, "started_at": started,
                       "duration_s": duration or ctx.rng.randint(60, 900),
                       "caller_number": c.phone, "recorded": recorded, "transcript": transcript})
    return cid


def call_text(ctx: Ctx, c: Cust, order: str | None = None) -> str:
    product = ctx.rng.choice(("waterkoker", "stofzuiger", "pannenset"))
    return _fill(ctx.rng.choice(CALLS), c, order, product)


def background_service(ctx: Ctx, c: Cust, orders: list[dict]) -> None:
    """A chat for about one account in seven, a call for one in sixteen (not for purged ones)."""
    if c.purged:
        return
    r = ctx.rng
    order = orders[-1]["order_id"] if orders else None
    if r.random() < 0.15:
        started = ctx.rand_between(c.created, ctx.limit - timedelta(hours=3))
        handled = None
        if r.random() < 0.3:
            fields = ["first_name", "last_name", "email", "chat_body"] + (["order_id"] if order else [])
            if sharing.covered("R11", started, fields, ctx.as_of):
                handled = "R11"
        chat_id, _ = make_chat(ctx, c, started, script(ctx, c, order), handled)
        if handled:
            sharing.transfer(ctx, "R11", started + timedelta(seconds=5), c.cid, order, fields,
                             "customer_service")
    if r.random() < 0.06:
        started = ctx.rand_between(c.created, ctx.limit - timedelta(hours=3))
        make_call(ctx, c, started, call_text(ctx, c, order), recorded=r.random() < 0.4)
