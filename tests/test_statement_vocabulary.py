"""The review's vocabulary (toolkit/statement/vocabulary.yaml) on paraphrases, Dutch and English:
each element is recognised in wordings other than the fixtures', and near-misses are not."""

from __future__ import annotations

import pytest

from toolkit.statement.document import parse
from toolkit.statement.vocabulary import (dates_in, disclosures, domains_named, edit_distance,
                                          look_alike, statement_date, vocabulary)

PARAPHRASES = {
    "ART13-CONTROLLER": [
        "Webwinkel Jansen V.O.F. is de verwerkingsverantwoordelijke.",
        "Wij zijn ingeschreven bij de Kamer van Koophandel onder nummer 87654321.",
        "Onze contactgegevens vindt u onderaan deze pagina.",
        "The data controller is Jansen Webshop Ltd.",
        "Jansen Webshop is responsible for the processing of your personal data.",
    ],
    "ART13-DPO": [
        "Onze functionaris voor gegevensbescherming is bereikbaar via fg@voorbeeld.nl.",
        "Wij hebben geen functionaris gegevensbescherming aangesteld, omdat dat niet verplicht is.",
        "You can contact our Data Protection Officer at dpo@example.com.",
        "We have not appointed a DPO because we are not required to.",
    ],
    "ART13-PURPOSES": [
        "Wij gebruiken uw adres om uw pakket te bezorgen.",
        "De doeleinden van de verwerking zijn hieronder beschreven.",
        "We use your e-mail address to send you order confirmations.",
        "The purposes of processing are listed below.",
    ],
    "ART13-LEGAL-BASIS": [
        "De rechtsgrond voor deze verwerking is uw toestemming.",
        "Wij verwerken deze gegevens op grond van de volgende grondslagen.",
        "The legal basis for this processing is our contract with you.",
        "We rely on Article 6(1)(b) GDPR for order data.",
    ],
    "ART13-LEGIT-INTERESTS": [
        "Wij hebben een gerechtvaardigd belang bij het voorkomen van fraude.",
        "Voor fraudepreventie beroepen wij ons op ons gerechtvaardigde belang.",
        "We process this data for our legitimate interests in preventing fraud.",
    ],
    "ART13-RECIPIENTS": [
        "Wij delen uw gegevens alleen met partijen die wij daarvoor inschakelen.",
        "Ontvangers van uw gegevens zijn onder meer onze bezorgers.",
        "Wij verstrekken uw gegevens niet aan derden.",
        "We share your data with our logistics partners.",
        "Recipients of your data include payment providers.",
        "We use third-party service providers for hosting.",
    ],
    "ART13-TRANSFERS": [
        "Wij geven geen gegevens door buiten de Europese Economische Ruimte.",
        "Uw gegevens worden alleen binnen de EU opgeslagen.",
        "Voor doorgifte naar een derde land gebruiken wij modelcontractbepalingen.",
        "We do not transfer your data outside the EEA.",
        "International transfers rely on an adequacy decision or standard contractual clauses.",
    ],
    "ART13-RETENTION": [
        "Wij bewaren uw gegevens niet langer dan nodig, en uiterlijk twee jaar.",
        "De bewaartermijn van chatgesprekken is zes maanden.",
        "Wij bewaren uw bestelgegevens zeven jaar vanwege de fiscale bewaarplicht.",
        "We keep your account data for 24 months after your last login.",
        "Our retention periods are listed in the table below.",
    ],
    "RIGHT-ACCESS": [
        "U mag ons altijd vragen om inzage in uw gegevens.",
        "U kunt een kopie van uw persoonsgegevens opvragen.",
        "You have the right of access to your personal data.",
        "You may request a copy of the personal data we hold about you.",
    ],
    "RIGHT-RECTIFICATION": [
        "Kloppen uw gegevens niet, dan kunt u ze laten corrigeren.",
        "U heeft recht op rectificatie.",
        "You can ask us to correct inaccurate information.",
        "You have the right to rectification.",
    ],
    "RIGHT-ERASURE": [
        "U kunt ons vragen uw gegevens te wissen.",
        "U heeft recht op vergetelheid.",
        "You can ask us to delete your personal data.",
        "You have the right to erasure (the right to be forgotten).",
    ],
    "RIGHT-RESTRICTION": [
        "U kunt vragen de verwerking van uw gegevens tijdelijk te beperken.",
        "U heeft het recht op beperking van de verwerking.",
        "You have the right to restrict processing.",
        "You may ask for restriction of processing while we check your request.",
    ],
    "RIGHT-OBJECTION": [
        "U kunt bezwaar maken tegen het gebruik van uw gegevens.",
        "U heeft het recht van bezwaar.",
        "You have the right to object to processing based on our legitimate interests.",
        "You can object at any time to direct marketing.",
    ],
    "RIGHT-PORTABILITY": [
        "U kunt uw gegevens laten overdragen aan een andere aanbieder.",
        "U heeft recht op dataportabiliteit.",
        "You have the right to data portability.",
        "We will provide your data in a structured, commonly used and machine-readable format.",
    ],
    "RIGHT-WITHDRAW-CONSENT": [
        "U kunt uw toestemming op ieder moment intrekken.",
        "Intrekken van uw toestemming is net zo makkelijk als het geven ervan.",
        "Heeft u toestemming gegeven, dan kunt u die altijd weer in te trekken via uw account.",
        "You can withdraw your consent at any time.",
        "Consent can be revoked in your account settings.",
    ],
    "RIGHT-COMPLAINT": [
        "U kunt een klacht indienen bij de Autoriteit Persoonsgegevens.",
        "U heeft het recht een klacht in te dienen bij de toezichthoudende autoriteit.",
        "You may lodge a complaint with the Dutch data protection authority.",
        "You can complain to a supervisory authority.",
    ],
    "ART13-REQUIREMENT": [
        "U bent niet verplicht uw telefoonnummer te verstrekken.",
        "Zonder deze gegevens kunnen wij uw bestelling niet afhandelen.",
        "Voor een bestelling hebben wij uw naam en adres nodig.",
        "You are not obliged to provide your phone number.",
        "Without this information we cannot deliver your order.",
    ],
    "ART13-PROFILING": [
        "Er is geen sprake van geautomatiseerde besluitvorming.",
        "Wij gebruiken profilering voor aanbevelingen.",
        "We do not use automated decision-making.",
        "We use profiling to recommend products.",
    ],
}

NOT = {
    # the seed's intro ("daartegen in verzet kunt") is not the right to object
    "RIGHT-OBJECTION": ["hoe u deze kunt wijzigen of daartegen in verzet kunt"],
    # a complaint to the shop itself is not a complaint to the supervisory authority
    "RIGHT-COMPLAINT": ["Heeft u een klacht over uw bestelling, neem dan contact op met de klantenservice.",
                        "If you have a complaint about your order, contact customer service."],
    # unsubscribing from a newsletter is not the general right to withdraw consent
    "RIGHT-WITHDRAW-CONSENT": ["U kunt zich afmelden via info@smootdiensten.nl.",
                               "You can unsubscribe from the newsletter at any time."],
    # a legal duty to keep data is not the statement of a legal basis
    "ART13-LEGAL-BASIS": ["Wij bewaren facturen zeven jaar omdat de wet dat voorschrijft."],
    "ART13-TRANSFERS": ["Wij geven uw gegevens aan bezorgdiensten."],
}


def _match(key: str, sentence: str) -> bool:
    return vocabulary().elements[key]["patterns"].search(sentence)


@pytest.mark.parametrize("key,sentence", [(k, s) for k, lst in PARAPHRASES.items() for s in lst])
def test_paraphrase_is_recognised(key, sentence):
    assert _match(key, sentence), (key, sentence)


@pytest.mark.parametrize("key,sentence", [(k, s) for k, lst in NOT.items() for s in lst])
def test_near_miss_is_not_recognised(key, sentence):
    assert not _match(key, sentence), (key, sentence)


def test_every_element_has_dutch_and_english_wording_and_a_paraphrase_test():
    data = vocabulary().data["elements"]
    for key, el in data.items():
        assert el.get("nl") and el.get("en"), key
        assert key in PARAPHRASES, key
        assert {"gdpr_ref", "title", "missing", "present"} <= set(el), key


CONSTRUCTS = {
    "CONSENT-BY-VISITING": [
        "Door het bezoeken van deze website gaat u akkoord met deze privacyverklaring.",
        "Bij gebruik van onze webwinkel geeft u toestemming voor de verwerking van uw gegevens.",
        "By using this website you consent to the processing described here.",
        "Your use of our site constitutes acceptance of this policy.",
    ],
    "CONSENT-BY-CONTINUED-USE": [
        "Door na wijzigingen gebruik te maken van de website gaat u akkoord met de gewijzigde verklaring.",
        "Bij voortgezet gebruik na een aanpassing aanvaardt u de nieuwe versie.",
        "Continued use of the site after changes means you accept the revised policy.",
        "By continuing to browse, you agree to these terms.",
    ],
}


@pytest.mark.parametrize("key,sentence", [(k, s) for k, lst in CONSTRUCTS.items() for s in lst])
def test_invalid_consent_wordings(key, sentence):
    assert vocabulary().constructs[key]["patterns"].search(sentence), (key, sentence)


@pytest.mark.parametrize("sentence", [
    "U kunt op elk moment uw toestemming intrekken door op de link te klikken.",
    "We ask for your consent before sending newsletters.",
    "Als u onze website bezoekt, plaatsen wij alleen functionele cookies.",
])
def test_valid_consent_wordings_are_not_invalid(sentence):
    for key in CONSTRUCTS:
        assert not vocabulary().constructs[key]["patterns"].search(sentence), (key, sentence)


def test_repealed_laws():
    laws = vocabulary().constructs["REPEALED-LAW"]["laws"]
    hit = {law["name"] for law in laws
           for s in ("met inachtneming van de Wet bescherming persoonsgegevens (Wbp)",
                     "in accordance with Directive 95/46/EC",
                     "The US recipient is certified under the Privacy Shield.")
           if law["patterns"].search(s)}
    assert len(hit) == 3
    assert not any(law["patterns"].search("in overeenstemming met de AVG en de UAVG") for law in laws)


# ---------------------------------------------------------------- dates, domains, disclosures

@pytest.mark.parametrize("text,expected", [
    ("bijgewerkt op 13-05-2018", "2018-05-13"),
    ("laatst gewijzigd: 3 mei 2024", "2024-05-03"),
    ("Last updated 2025-12-01", "2025-12-01"),
    ("Effective May 13, 2018", "2018-05-13"),
    ("Version of 1st March 2026", "2026-03-01"),
    ("bijgewerkt op 13.05.2018", "2018-05-13"),
])
def test_dates(text, expected):
    assert [d.isoformat() for d in dates_in(text)] == [expected]


def test_impossible_date_is_no_date():
    assert dates_in("bijgewerkt op 31-02-2018") == []


def test_statement_date_needs_an_update_word():
    doc = parse("Sinds 25 mei 2018 geldt de AVG voor alle organisaties die gegevens verwerken.\n\n"
                "Deze verklaring is herzien op 2 januari 2026.")
    d, s = statement_date(doc)
    assert d.isoformat() == "2026-01-02" and "herzien" in s.text


def test_typo_domains():
    fp = ["contractstatus.nl", "smootdiensten.nl"]
    assert look_alike("contrachtstatus.nl", fp) == "contractstatus.nl"
    assert look_alike("contractstatus.com", fp) == "contractstatus.nl"
    assert look_alike("smootdienstne.nl", fp) == "smootdiensten.nl"
    assert look_alike("autoriteitpersoonsgegevens.nl", fp) is None
    assert look_alike("contractstatus.nl", fp) is None
    assert edit_distance("ab", "ba") == 1 and edit_distance("kitten", "sitting") == 3


def test_domains_named_in_links_text_and_mail():
    doc = parse("Bezoek <https://shop.contractstatus.nl/account> of [onze site](http://www.smootdiensten.nl).\n"
                "Mail naar info@smootdiensten.nl of kijk op contrachtstatus.nl voor meer.")
    assert list(domains_named(doc)) == ["contractstatus.nl", "smootdiensten.nl", "contrachtstatus.nl"]


def test_disclosures_of_paraphrased_recipients():
    doc = parse("Wij geven uw gegevens aan onze betaaldienstverlener en aan PostNL.\n\n"
                "We share data with our e-mail service provider and advertising partners in the United States.")
    found = disclosures(doc)
    assert set(found.recipient_categories) == {"payment_provider", "delivery", "email_service",
                                               "advertising"}
    assert set(found.countries) == {"US"}


# ---------------------------------------------------------------- categories of personal data

DATA_CATEGORIES = {
    "name": ["Wij vragen om uw voor- en achternaam.", "We collect your full name."],
    "email": ["Wij bewaren uw e-mailadres.", "We keep your email address."],
    "phone": ["Uw mobiele nummer gebruiken wij voor bezorgberichten.",
              "We may ask for your phone number."],
    "address": ["Wij hebben uw afleveradres nodig.", "We need your delivery address."],
    "payment": ["Uw bankgegevens en IBAN worden veilig opgeslagen.",
                "Payment details are handled by our provider."],
    "birth_date": ["Bij registratie vragen wij uw geboortedatum.", "We ask for your date of birth."],
    "gender": ["Wij vragen uw geslacht voor de juiste aanhef.", "We record your gender."],
    "ip_address": ["Wij registreren uw IP-adres.", "We log your IP address."],
    "device": ["Wij slaan uw browsertype en besturingssysteem op.",
               "We record your browser type and operating system (user agent)."],
    "online_identifiers": ["Wij plaatsen cookies met een bezoekers-ID.",
                           "We use cookies and an online identifier."],
    "account": ["Uw inloggegevens worden versleuteld bewaard.",
                "Your password is stored as a hash."],
    "chats": ["Chatgesprekken met de klantenservice bewaren wij zes maanden.",
              "We keep chat messages with customer service."],
    "call_recordings": ["Telefoongesprekken met de klantenservice worden opgenomen.",
                        "We record phone calls for training purposes."],
    "notes": ["Onze medewerkers maken notities van uw vragen.",
              "Our agents keep notes of your questions."],
}
DATA_CATEGORIES_NOT = {
    # the seed's "gegevens over het telefoongesprek" are about the call, not its recording
    "call_recordings": ["Smootdiensten registreert gegevens over het telefoongesprek en bewaart chats."],
    # an e-mail address or an IP address is not a postal address
    "address": ["Wij bewaren uw e-mailadres.", "We keep your email address.",
                "Wij registreren uw IP-adres."],
    "birth_date": ["Wij verwerken geen gegevens van kinderen onder de 16 jaar."],
}


@pytest.mark.parametrize("key,sentence", [(k, s) for k, lst in DATA_CATEGORIES.items() for s in lst])
def test_data_category_paraphrase_is_recognised(key, sentence):
    assert key in disclosures(parse(sentence + "\n")).data_categories, (key, sentence)


@pytest.mark.parametrize("key,sentence",
                         [(k, s) for k, lst in DATA_CATEGORIES_NOT.items() for s in lst])
def test_data_category_near_miss_is_not_recognised(key, sentence):
    assert not vocabulary().data_categories[key].search(sentence), (key, sentence)


def test_every_data_category_has_dutch_and_english_wording_and_paraphrases():
    for key, spec in vocabulary().data["data_categories"].items():
        assert spec.get("nl") and spec.get("en"), key
        assert len(DATA_CATEGORIES[key]) >= 2, key


def test_the_seed_names_these_categories_of_personal_data():
    from toolkit.policy import load_policy
    from toolkit.statement.document import read_statement

    pol = load_policy()
    found = disclosures(read_statement(pol.statement_file)).data_categories
    assert sorted(found) == sorted(pol.transparency.disclosed_data_categories)
    assert {"birth_date", "gender", "device", "call_recordings"}.isdisjoint(found)
    assert "e-mailadres, adres(sen), betaalgegevens" in found["payment"][0].text
