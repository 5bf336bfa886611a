#!/usr/bin/env python3
"""Build the small built-in multilingual intent corpus shipped in ``merginguriel/data/builtin_corpus``.

The corpus is written for this project (it is not taken from MASSIVE or any other data set).  Each
locale below has hand-authored templates per intent, with ``{slot}`` placeholders, and its own
slot-value lists.  A single seeded sequence of (id, intent, partition, template choice, slot choices)
is shared by all locales, so example ``id`` N has the same intent and partition everywhere, as in
MASSIVE.  Output rows use MASSIVE's key layout; slot values are marked in ``annot_utt`` as
``[slot_type : value]``.

Usage (from the repository root)::

    python tools/build_builtin_corpus.py          # (re)write the corpus files
    python tools/build_builtin_corpus.py --check  # verify the files on disk; exit 1 on mismatch

Standard library only; re-running gives byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

SEED = 0
OUT_DIR = Path("merginguriel") / "data" / "builtin_corpus"

INTENTS = (
    "alarm_set",
    "alarm_query",
    "weather_query",
    "play_music",
    "audio_volume_up",
    "audio_volume_mute",
    "iot_hue_lightoff",
    "calendar_set",
    "lists_createoradd",
    "qa_currency",
    "takeaway_order",
    "general_joke",
)
SPLIT_SIZES = {"train": 20, "dev": 5, "test": 5}  # per intent, per locale
PARTITIONS = tuple(SPLIT_SIZES)
PER_INTENT = sum(SPLIT_SIZES.values())
MIN_TEMPLATES = 6
PREFER_UNIQUE_ATTEMPTS = 64  # tries (cycling slot values, then templates) to avoid any repeat

# Every placeholder name that may appear in a template.  One random choice per name is drawn for
# every example (in this fixed order), so adding a template never changes the shared sequence.
SLOT_KEYS = (
    "artist_name",
    "business_name",
    "change_amount",
    "currency_name",
    "date",
    "device_type",
    "duration",
    "event_name",
    "food_type",
    "house_place",
    "item",
    "joke_type",
    "list_name",
    "music_genre",
    "order_type",
    "person",
    "place_name",
    "song_name",
    "time",
    "topic",
    "weather_descriptor",
)
# Placeholder name -> slot type written in annot_utt (default: the name itself).  ``None`` means the
# value is substituted as plain text, without annotation (list items and joke topics).
SLOT_LABEL: dict[str, str | None] = {"duration": "time", "item": None, "topic": None}

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

# ---------------------------------------------------------------------------------------------------
# Locale data.  Slot-value lists are lower case and agree grammatically with the templates that use
# them (e.g. all German rooms are "-zimmer" nouns after "im", all Spanish rooms are masculine).
# ---------------------------------------------------------------------------------------------------

EN_US = {
    "templates": {
        "alarm_set": [
            "set an alarm for {time}",
            "wake me up at {time} {date}",
            "please set an alarm for {time} {date}",
            "i need an alarm at {time}",
            "can you set my alarm for {time} {date}",
            "create an alarm for {date} at {time}",
            "alarm at {time} please",
            "make sure i'm up by {time} {date}",
        ],
        "alarm_query": [
            "what alarms do i have {date}",
            "show me my alarms",
            "is there an alarm set for {time}",
            "did i set an alarm for {date}",
            "what time is my alarm {date}",
            "list all my alarms for {date}",
            "when is my next alarm",
            "is my alarm for {time} still on",
        ],
        "weather_query": [
            "what's the weather like in {place_name} {date}",
            "will there be {weather_descriptor} in {place_name} {date}",
            "how hot will it get in {place_name} {date}",
            "do i need an umbrella {date}",
            "give me the forecast for {place_name}",
            "what's the temperature in {place_name} right now",
            "any {weather_descriptor} in the forecast for {date}",
            "how is the weather in {place_name}",
        ],
        "play_music": [
            "play {song_name}",
            "play something by {artist_name}",
            "i want to hear {artist_name}",
            "put on some {music_genre} music",
            "can you play the song {song_name}",
            "i'd like to listen to {song_name}",
            "start playing {music_genre}",
            "play music by {artist_name}",
        ],
        "audio_volume_up": [
            "turn the volume up",
            "increase the volume by {change_amount}",
            "turn up the {device_type}",
            "make it louder please",
            "can you raise the music a bit",
            "i can't hear anything turn it up",
            "set the volume {change_amount} higher",
            "volume up on the {device_type}",
            "turn the {device_type} up by {change_amount}",
        ],
        "audio_volume_mute": [
            "mute the {device_type}",
            "turn the sound off",
            "silence please",
            "mute the sound for {duration}",
            "can you mute everything",
            "be quiet",
            "no sound for {duration} please",
            "put the {device_type} on mute",
            "mute the {device_type} for {duration}",
        ],
        "iot_hue_lightoff": [
            "turn off the lights in the {house_place}",
            "switch off the {house_place} light",
            "lights off",
            "can you turn the {house_place} lights off",
            "shut off all the lights",
            "it's too bright in the {house_place} turn the light off",
            "please switch the lights off in the {house_place}",
            "kill the lights please",
            "lights off in the {house_place}",
        ],
        "calendar_set": [
            "add a {event_name} to my calendar for {date}",
            "schedule a meeting with {person} {date} at {time}",
            "put a {event_name} on my calendar {date}",
            "i have a {event_name} {date} at {time} please add it",
            "create an event called {event_name} for {date}",
            "put a {event_name} in my calendar at {time}",
            "remind me about my {event_name} {date}",
            "set up a meeting with {person} for {date}",
        ],
        "lists_createoradd": [
            "add {item} to my {list_name} list",
            "create a new {list_name} list",
            "put {item} on the {list_name} list",
            "make a {list_name} list",
            "i need to add {item} to my {list_name} list",
            "write {item} on the list",
            "start a new {list_name} list for me",
            "can you add {item} to the {list_name} list",
        ],
        "qa_currency": [
            "what is the exchange rate between the {currency_name} and the {currency_name}",
            "how much is one {currency_name} worth in {currency_name}",
            "convert {currency_name} to {currency_name}",
            "how is the {currency_name} doing today",
            "what's the {currency_name} to {currency_name} rate",
            "has the {currency_name} gone up against the {currency_name}",
            "tell me the current value of the {currency_name}",
        ],
        "takeaway_order": [
            "order {food_type} from {business_name}",
            "i'd like some {food_type} for {order_type}",
            "can you get me {food_type} delivered",
            "place an order at {business_name}",
            "i want to order {food_type} for {order_type}",
            "does {business_name} do {order_type}",
            "get me some {food_type} from {business_name}",
            "order dinner from {business_name} for {order_type}",
        ],
        "general_joke": [
            "tell me a joke",
            "tell me a {joke_type} joke",
            "do you know any {joke_type} jokes",
            "make me laugh",
            "i want to hear a {joke_type} joke",
            "say something funny",
            "got any good jokes",
            "cheer me up with a {joke_type} joke",
            "tell me a joke about {topic}",
        ],
    },
    "slots": {
        "time": [
            "seven am",
            "six thirty",
            "half past eight",
            "quarter to seven",
            "five fifteen am",
            "nine pm",
            "noon",
        ],
        "date": ["today", "tomorrow", "the day after tomorrow", "this friday", "next monday", "saturday"],
        "place_name": ["new york", "chicago", "seattle", "boston", "san francisco", "denver", "miami"],
        "weather_descriptor": ["rain", "snow", "fog", "sunshine", "hail", "thunder", "frost"],
        "artist_name": [
            "taylor swift",
            "bruce springsteen",
            "the beatles",
            "johnny cash",
            "billie eilish",
            "prince",
            "dolly parton",
        ],
        "song_name": [
            "hey jude",
            "purple rain",
            "shake it off",
            "born to run",
            "bad guy",
            "ring of fire",
            "jolene",
        ],
        "music_genre": ["jazz", "rock", "hip hop", "country", "reggae", "pop", "blues"],
        "change_amount": ["ten percent", "twenty percent", "two notches", "three steps", "fifteen percent"],
        "device_type": ["speaker", "tv", "radio", "sound bar", "stereo"],
        "duration": ["ten minutes", "half an hour", "an hour", "five minutes", "twenty minutes"],
        "house_place": ["living room", "bedroom", "bathroom", "kitchen", "hallway", "garage", "dining room"],
        "event_name": [
            "dentist appointment",
            "team meeting",
            "yoga class",
            "haircut",
            "job interview",
            "parent teacher conference",
            "doctor's appointment",
        ],
        "person": ["sarah", "david", "emma", "james", "olivia", "michael"],
        "list_name": ["shopping", "to do", "packing", "birthday", "reading", "grocery"],
        "item": ["milk", "eggs", "bread", "bananas", "coffee", "paper towels", "batteries"],
        "currency_name": [
            "us dollar",
            "euro",
            "japanese yen",
            "swiss franc",
            "british pound",
            "canadian dollar",
            "mexican peso",
        ],
        "food_type": ["pizza", "sushi", "pad thai", "fried chicken", "tacos", "chinese food", "burgers"],
        "business_name": ["tony's pizza", "golden dragon", "sushi palace", "taco town", "the burger joint"],
        "order_type": ["delivery", "takeout", "pickup"],
        "joke_type": ["funny", "dad", "knock knock", "silly", "short", "nerdy", "bad", "corny"],
        "topic": ["cats", "computers", "football", "doctors", "teachers", "the weather", "cars"],
    },
}

DE_DE = {
    "templates": {
        "alarm_set": [
            "stell einen wecker für {time}",
            "weck mich {date} um {time}",
            "stelle bitte einen alarm für {date} um {time}",
            "ich brauche einen wecker um {time}",
            "kannst du meinen wecker auf {time} stellen",
            "neuer alarm {date} um {time}",
            "wecker um {time} bitte",
            "sorg dafür dass ich {date} um {time} wach bin",
        ],
        "alarm_query": [
            "welche wecker sind für {date} gestellt",
            "zeig mir meine wecker",
            "ist ein wecker für {time} gestellt",
            "habe ich {date} einen alarm",
            "wann klingelt mein wecker {date}",
            "liste alle alarme für {date} auf",
            "wann ist mein nächster wecker",
            "ist mein wecker um {time} noch an",
        ],
        "weather_query": [
            "wie wird das wetter {date} in {place_name}",
            "gibt es {date} {weather_descriptor} in {place_name}",
            "wie warm wird es {date} in {place_name}",
            "brauche ich {date} einen regenschirm",
            "wettervorhersage für {place_name}",
            "wie viel grad hat es gerade in {place_name}",
            "ist für {date} {weather_descriptor} angesagt",
            "wie ist das wetter in {place_name}",
        ],
        "play_music": [
            "spiel {song_name}",
            "spiel etwas von {artist_name}",
            "ich möchte {artist_name} hören",
            "mach mal {music_genre} an",
            "leg {song_name} auf",
            "kannst du das lied {song_name} abspielen",
            "ich habe lust auf {music_genre}",
            "spiel musik von {artist_name}",
        ],
        "audio_volume_up": [
            "mach lauter",
            "erhöhe die lautstärke um {change_amount}",
            "dreh den {device_type} lauter",
            "lautstärke hoch bitte",
            "kannst du die musik etwas lauter machen",
            "ich höre nichts mach bitte lauter",
            "stell die lautstärke {change_amount} höher",
            "mach den {device_type} lauter",
            "mach den {device_type} um {change_amount} lauter",
        ],
        "audio_volume_mute": [
            "schalte den {device_type} stumm",
            "ton aus",
            "stummschalten bitte",
            "mach den ton für {duration} aus",
            "kannst du alles stumm schalten",
            "sei still",
            "schalte den ton für {duration} ab",
            "stell den {device_type} auf stumm",
            "schalte den {device_type} für {duration} stumm",
        ],
        "iot_hue_lightoff": [
            "mach das licht im {house_place} aus",
            "schalte die lampen im {house_place} aus",
            "licht aus",
            "kannst du das licht im {house_place} ausschalten",
            "alle lichter ausschalten",
            "im {house_place} ist es zu hell mach das licht aus",
            "licht im {house_place} aus bitte",
            "mach bitte alle lampen aus",
            "licht aus im {house_place}",
        ],
        "calendar_set": [
            "trag einen {event_name} für {date} in meinen kalender ein",
            "erstelle einen termin mit {person} {date} um {time}",
            "füge {date} einen {event_name} hinzu",
            "ich habe {date} um {time} einen {event_name} bitte eintragen",
            "neuer kalendereintrag {event_name} {date}",
            "setz einen {event_name} um {time} in den kalender",
            "erinnere mich an meinen {event_name} {date}",
            "vereinbare ein treffen mit {person} für {date}",
        ],
        "lists_createoradd": [
            "setz {item} auf meine {list_name}",
            "erstelle eine neue {list_name}",
            "füge {item} zur {list_name} hinzu",
            "leg eine {list_name} an",
            "ich muss {item} auf die {list_name} schreiben",
            "schreib {item} auf die liste",
            "mach mir eine neue {list_name}",
            "kannst du {item} zu meiner {list_name} hinzufügen",
        ],
        "qa_currency": [
            "wie steht der {currency_name} zum {currency_name}",
            "wie viel ist ein {currency_name} in {currency_name} wert",
            "rechne {currency_name} in {currency_name} um",
            "was ist der aktuelle wechselkurs von {currency_name} zu {currency_name}",
            "wechselkurs {currency_name} {currency_name}",
            "wie stark ist der {currency_name} gerade",
            "ist der {currency_name} gegenüber dem {currency_name} gestiegen",
        ],
        "takeaway_order": [
            "bestell mir {food_type} bei {business_name}",
            "ich hätte gern {food_type} zur {order_type}",
            "kannst du {food_type} liefern lassen",
            "gib eine bestellung bei {business_name} auf",
            "ich möchte {food_type} zum mitnehmen bestellen",
            "bietet {business_name} {order_type} an",
            "hol mir {food_type} von {business_name}",
            "bestell essen bei {business_name} zur {order_type}",
        ],
        "general_joke": [
            "erzähl mir einen witz",
            "erzähl mir einen {joke_type} witz",
            "kennst du einen {joke_type} witz",
            "bring mich zum lachen",
            "ich will einen {joke_type} witz hören",
            "sag mal was lustiges",
            "hast du gute witze auf lager",
            "heitere mich mit einem {joke_type} witz auf",
            "erzähl mir einen witz über {topic}",
        ],
    },
    "slots": {
        "time": [
            "sieben uhr",
            "halb sieben",
            "halb neun",
            "viertel vor sieben",
            "viertel nach fünf",
            "neun uhr abends",
            "zwölf uhr mittags",
        ],
        "date": ["heute", "morgen", "übermorgen", "diesen freitag", "nächsten montag", "samstag"],
        "place_name": ["berlin", "hamburg", "münchen", "köln", "frankfurt", "leipzig", "stuttgart"],
        "weather_descriptor": ["regen", "schnee", "nebel", "sonnenschein", "hagel", "gewitter", "frost"],
        "artist_name": [
            "herbert grönemeyer",
            "helene fischer",
            "die toten hosen",
            "nena",
            "rammstein",
            "udo lindenberg",
            "peter fox",
        ],
        "song_name": [
            "atemlos durch die nacht",
            "männer",
            "haus am see",
            "an tagen wie diesen",
            "du hast",
            "mensch",
            "sonderzug nach pankow",
        ],
        "music_genre": ["jazz", "rock", "hip hop", "schlager", "klassik", "techno", "volksmusik"],
        "change_amount": [
            "zehn prozent",
            "zwanzig prozent",
            "zwei stufen",
            "drei stufen",
            "fünfzehn prozent",
        ],
        "device_type": ["fernseher", "lautsprecher", "verstärker"],
        "duration": ["zehn minuten", "eine halbe stunde", "eine stunde", "fünf minuten", "zwanzig minuten"],
        "house_place": [
            "wohnzimmer",
            "schlafzimmer",
            "badezimmer",
            "esszimmer",
            "kinderzimmer",
            "arbeitszimmer",
            "gästezimmer",
        ],
        "event_name": [
            "zahnarzttermin",
            "friseurtermin",
            "yogakurs",
            "arzttermin",
            "elternabend",
            "geschäftstermin",
            "kinobesuch",
        ],
        "person": ["anna", "thomas", "julia", "markus", "lena", "stefan"],
        "list_name": [
            "einkaufsliste",
            "aufgabenliste",
            "packliste",
            "geburtstagsliste",
            "leseliste",
            "wunschliste",
        ],
        "item": ["milch", "eier", "brot", "bananen", "kaffee", "küchenrolle", "batterien"],
        "currency_name": ["dollar", "euro", "yen", "schweizer franken", "rand", "peso"],
        "food_type": ["pizza", "sushi", "döner", "currywurst", "pommes", "frühlingsrollen", "burger"],
        "business_name": ["pizzeria roma", "asia wok", "sushi bar tokio", "döner palast", "burger haus"],
        "order_type": ["lieferung", "abholung"],
        "joke_type": ["lustigen", "kurzen", "flachen", "schlechten", "dummen", "alten", "guten", "neuen"],
        "topic": ["katzen", "computer", "fußball", "ärzte", "lehrer", "das wetter", "autos"],
    },
}

NL_NL = {
    "templates": {
        "alarm_set": [
            "zet een wekker om {time}",
            "maak me {date} om {time} wakker",
            "zet {date} een alarm om {time}",
            "ik heb een wekker nodig om {time}",
            "kun je mijn wekker op {time} zetten",
            "nieuw alarm voor {date} om {time}",
            "wekker om {time} graag",
            "zorg dat ik {date} om {time} wakker ben",
        ],
        "alarm_query": [
            "welke wekkers staan er voor {date}",
            "laat mijn wekkers zien",
            "staat er een wekker om {time}",
            "heb ik {date} een alarm",
            "hoe laat gaat mijn wekker {date}",
            "geef een lijst van mijn alarmen voor {date}",
            "wanneer gaat mijn volgende wekker",
            "staat mijn wekker van {time} nog aan",
        ],
        "weather_query": [
            "wat voor weer wordt het {date} in {place_name}",
            "komt er {date} {weather_descriptor} in {place_name}",
            "hoe warm wordt het {date} in {place_name}",
            "heb ik {date} een paraplu nodig",
            "weerbericht voor {place_name}",
            "hoeveel graden is het nu in {place_name}",
            "wordt er {date} {weather_descriptor} verwacht",
            "hoe is het weer in {place_name}",
        ],
        "play_music": [
            "speel {song_name}",
            "speel iets van {artist_name}",
            "ik wil {artist_name} horen",
            "zet wat {music_genre} op",
            "draai {song_name}",
            "kun je het nummer {song_name} afspelen",
            "ik heb zin in {music_genre}",
            "speel muziek van {artist_name}",
        ],
        "audio_volume_up": [
            "zet het geluid harder",
            "verhoog het volume met {change_amount}",
            "zet de {device_type} harder",
            "volume omhoog graag",
            "kun je de muziek wat harder zetten",
            "ik hoor niks zet het harder",
            "zet het volume {change_amount} hoger",
            "maak de {device_type} luider",
            "zet de {device_type} {change_amount} harder",
        ],
        "audio_volume_mute": [
            "zet de {device_type} op stil",
            "geluid uit",
            "dempen graag",
            "zet het geluid {duration} uit",
            "kun je alles dempen",
            "stilte alsjeblieft",
            "demp het geluid voor {duration}",
            "zet het geluid van de {device_type} uit",
            "zet de {device_type} {duration} op stil",
        ],
        "iot_hue_lightoff": [
            "doe het licht in de {house_place} uit",
            "zet de lampen in de {house_place} uit",
            "licht uit",
            "kun je het licht in de {house_place} uitdoen",
            "doe alle lichten uit",
            "het is te fel in de {house_place} doe het licht uit",
            "schakel de verlichting in de {house_place} uit",
            "lampen uit alsjeblieft",
            "licht uit in de {house_place}",
        ],
        "calendar_set": [
            "zet een {event_name} in mijn agenda voor {date}",
            "plan {date} om {time} een afspraak met {person}",
            "voeg {date} een {event_name} toe",
            "ik heb {date} om {time} een {event_name} zet het in de agenda",
            "nieuwe afspraak {event_name} {date}",
            "zet om {time} een {event_name} in de agenda",
            "herinner me aan mijn {event_name} {date}",
            "maak een afspraak met {person} voor {date}",
        ],
        "lists_createoradd": [
            "zet {item} op mijn {list_name}",
            "maak een nieuwe {list_name}",
            "voeg {item} toe aan de {list_name}",
            "begin een {list_name}",
            "ik moet {item} op de {list_name} zetten",
            "schrijf {item} op de lijst",
            "maak voor mij een {list_name} aan",
            "kun je {item} aan mijn {list_name} toevoegen",
        ],
        "qa_currency": [
            "hoe staat de {currency_name} ten opzichte van de {currency_name}",
            "hoeveel is een {currency_name} waard in {currency_name}",
            "reken {currency_name} om naar {currency_name}",
            "wat is de huidige wisselkoers van de {currency_name} naar de {currency_name}",
            "wisselkoers {currency_name} {currency_name}",
            "hoe sterk is de {currency_name} op dit moment",
            "is de {currency_name} gestegen tegenover de {currency_name}",
        ],
        "takeaway_order": [
            "bestel {food_type} bij {business_name}",
            "ik wil graag {food_type} laten bezorgen",
            "kun je {food_type} voor me bestellen",
            "plaats een bestelling bij {business_name}",
            "ik wil {food_type} bestellen om af te halen",
            "bezorgt {business_name} ook aan huis",
            "haal {food_type} bij {business_name}",
            "bestel eten bij {business_name} om te laten bezorgen",
        ],
        "general_joke": [
            "vertel een mop",
            "vertel me een {joke_type} grap",
            "ken je een {joke_type} mop",
            "laat me lachen",
            "ik wil een {joke_type} grap horen",
            "zeg eens iets grappigs",
            "heb je nog goede moppen",
            "vrolijk me op met een {joke_type} grap",
            "vertel een mop over {topic}",
        ],
    },
    "slots": {
        "time": [
            "zeven uur",
            "half zeven",
            "half negen",
            "kwart voor zeven",
            "kwart over vijf",
            "negen uur 's avonds",
            "twaalf uur 's middags",
        ],
        "date": ["vandaag", "morgen", "overmorgen", "deze vrijdag", "volgende maandag", "zaterdag"],
        "place_name": [
            "amsterdam",
            "rotterdam",
            "utrecht",
            "den haag",
            "eindhoven",
            "groningen",
            "maastricht",
        ],
        "weather_descriptor": ["regen", "sneeuw", "mist", "zon", "hagel", "onweer", "vorst"],
        "artist_name": [
            "marco borsato",
            "andré hazes",
            "doe maar",
            "golden earring",
            "davina michelle",
            "racoon",
            "guus meeuwis",
        ],
        "song_name": [
            "radar love",
            "zij gelooft in mij",
            "de bestemming",
            "oya lele",
            "het is een nacht",
            "smoorverliefd",
            "laat me",
        ],
        "music_genre": ["jazz", "rock", "hiphop", "levenslied", "klassieke muziek", "techno", "pop"],
        "change_amount": [
            "tien procent",
            "twintig procent",
            "twee standen",
            "drie stappen",
            "vijftien procent",
        ],
        "device_type": ["tv", "radio", "speaker", "versterker", "soundbar"],
        "duration": ["tien minuten", "een half uur", "een uur", "vijf minuten", "twintig minuten"],
        "house_place": ["woonkamer", "slaapkamer", "badkamer", "keuken", "gang", "garage", "werkkamer"],
        "event_name": [
            "tandartsafspraak",
            "teamvergadering",
            "yogales",
            "kappersafspraak",
            "sollicitatiegesprek",
            "ouderavond",
            "doktersafspraak",
        ],
        "person": ["sanne", "daan", "lotte", "bram", "emma", "jeroen"],
        "list_name": [
            "boodschappenlijst",
            "takenlijst",
            "paklijst",
            "verjaardagslijst",
            "leeslijst",
            "verlanglijst",
        ],
        "item": ["melk", "eieren", "brood", "bananen", "koffie", "keukenrol", "batterijen"],
        "currency_name": ["dollar", "euro", "yen", "zwitserse frank", "rand", "peso"],
        "food_type": ["pizza", "sushi", "shoarma", "friet", "nasi goreng", "loempia's", "hamburgers"],
        "business_name": [
            "pizzeria napoli",
            "de gouden wok",
            "sushi house",
            "snackbar de hoek",
            "burger bar",
        ],
        "joke_type": ["leuke", "korte", "flauwe", "slechte", "grappige", "domme", "oude", "nieuwe"],
        "topic": ["katten", "computers", "voetbal", "dokters", "leraren", "het weer", "auto's"],
    },
}

AF_ZA = {
    "templates": {
        "alarm_set": [
            "stel 'n wekker vir {time}",
            "maak my {date} om {time} wakker",
            "stel {date} 'n alarm om {time}",
            "ek het 'n wekker om {time} nodig",
            "kan jy my wekker op {time} stel",
            "nuwe alarm vir {date} om {time}",
            "wekker om {time} asseblief",
            "sorg dat ek {date} om {time} wakker is",
        ],
        "alarm_query": [
            "watter wekkers is vir {date} gestel",
            "wys my my wekkers",
            "is daar 'n wekker vir {time} gestel",
            "het ek {date} 'n alarm",
            "hoe laat lui my wekker {date}",
            "gee 'n lys van my alarms vir {date}",
            "wanneer lui my volgende wekker",
            "is my wekker vir {time} nog aan",
        ],
        "weather_query": [
            "hoe gaan die weer {date} in {place_name} wees",
            "gaan daar {date} {weather_descriptor} in {place_name} wees",
            "hoe warm gaan dit {date} in {place_name} word",
            "het ek {date} 'n sambreel nodig",
            "weervoorspelling vir {place_name}",
            "hoeveel grade is dit nou in {place_name}",
            "word daar {date} {weather_descriptor} verwag",
            "hoe is die weer in {place_name}",
        ],
        "play_music": [
            "speel {song_name}",
            "speel iets van {artist_name}",
            "ek wil na {artist_name} luister",
            "sit bietjie {music_genre} op",
            "speel vir my {song_name}",
            "kan jy die liedjie {song_name} speel",
            "ek is lus vir {music_genre}",
            "speel musiek van {artist_name}",
        ],
        "audio_volume_up": [
            "sit die klank harder",
            "verhoog die volume met {change_amount}",
            "maak die {device_type} harder",
            "volume op asseblief",
            "kan jy die musiek bietjie harder sit",
            "ek hoor niks nie sit dit harder",
            "stel die volume {change_amount} hoër",
            "draai die {device_type} op",
            "sit die {device_type} {change_amount} harder",
        ],
        "audio_volume_mute": [
            "demp die {device_type}",
            "klank af",
            "demp asseblief",
            "sit die klank vir {duration} af",
            "kan jy alles demp",
            "stilte asseblief",
            "skakel die klank vir {duration} af",
            "sit die {device_type} op stil",
            "demp die {device_type} vir {duration}",
        ],
        "iot_hue_lightoff": [
            "sit die lig in die {house_place} af",
            "skakel die ligte in die {house_place} af",
            "ligte af",
            "kan jy die lig in die {house_place} afsit",
            "sit al die ligte af",
            "dit is te helder in die {house_place} sit die lig af",
            "skakel die beligting in die {house_place} af",
            "ligte af asseblief",
            "ligte af in die {house_place}",
        ],
        "calendar_set": [
            "sit 'n {event_name} in my kalender vir {date}",
            "beplan {date} om {time} 'n afspraak met {person}",
            "voeg {date} 'n {event_name} by",
            "ek het {date} om {time} 'n {event_name} sit dit in die kalender",
            "nuwe afspraak {event_name} {date}",
            "sit om {time} 'n {event_name} in die kalender",
            "herinner my aan my {event_name} {date}",
            "maak 'n afspraak met {person} vir {date}",
        ],
        "lists_createoradd": [
            "sit {item} op my {list_name}",
            "maak 'n nuwe {list_name}",
            "voeg {item} by die {list_name}",
            "begin 'n {list_name}",
            "ek moet {item} op die {list_name} sit",
            "skryf {item} op die lys",
            "skep vir my 'n {list_name}",
            "kan jy {item} by my {list_name} voeg",
        ],
        "qa_currency": [
            "hoe staan die {currency_name} teenoor die {currency_name}",
            "hoeveel is een {currency_name} in {currency_name} werd",
            "skakel {currency_name} om na {currency_name}",
            "wat is die huidige wisselkoers van die {currency_name} na die {currency_name}",
            "wisselkoers {currency_name} {currency_name}",
            "hoe sterk is die {currency_name} op die oomblik",
            "het die {currency_name} teenoor die {currency_name} gestyg",
            "hoeveel {currency_name} kry ek vir een {currency_name}",
        ],
        "takeaway_order": [
            "bestel {food_type} by {business_name}",
            "ek wil graag {food_type} vir {order_type} hê",
            "kan jy vir my {food_type} laat aflewer",
            "plaas 'n bestelling by {business_name}",
            "ek wil {food_type} bestel om weg te neem",
            "bied {business_name} {order_type} aan",
            "kry vir my {food_type} van {business_name}",
            "bestel aandete by {business_name} vir {order_type}",
        ],
        "general_joke": [
            "vertel vir my 'n grap",
            "vertel my 'n {joke_type} grap",
            "ken jy 'n {joke_type} grap",
            "laat my lag",
            "ek wil 'n {joke_type} grap hoor",
            "sê iets snaaks",
            "het jy enige goeie grappe",
            "beur my op met 'n {joke_type} grap",
            "vertel 'n grap oor {topic}",
        ],
    },
    "slots": {
        "time": [
            "sewe-uur",
            "halfsewe",
            "halfnege",
            "kwart voor sewe",
            "kwart oor vyf",
            "nege-uur die aand",
            "twaalfuur die middag",
        ],
        "date": ["vandag", "môre", "oormôre", "hierdie vrydag", "volgende maandag", "saterdag"],
        "place_name": [
            "kaapstad",
            "johannesburg",
            "pretoria",
            "durban",
            "bloemfontein",
            "stellenbosch",
            "george",
        ],
        "weather_descriptor": ["reën", "sneeu", "mis", "son", "hael", "donderstorms", "ryp"],
        "artist_name": [
            "steve hofmeyr",
            "bok van blerk",
            "karen zoid",
            "snotkop",
            "riana nel",
            "kurt darren",
            "francois van coke",
        ],
        "song_name": ["de la rey", "kaptein", "pampoen", "liefling", "sit dit af", "my hart", "somer"],
        "music_genre": ["jazz", "rock", "hiphop", "boeremusiek", "klassieke musiek", "sokkie", "pop"],
        "change_amount": ["tien persent", "twintig persent", "twee vlakke", "drie stappe", "vyftien persent"],
        "device_type": ["tv", "radio", "luidspreker", "klankstelsel", "versterker"],
        "duration": ["tien minute", "'n halfuur", "'n uur", "vyf minute", "twintig minute"],
        "house_place": ["sitkamer", "slaapkamer", "badkamer", "kombuis", "gang", "motorhuis", "eetkamer"],
        "event_name": [
            "tandartsafspraak",
            "spanvergadering",
            "jogaklas",
            "haarkapperafspraak",
            "werksonderhoud",
            "ouervergadering",
            "dokterafspraak",
        ],
        "person": ["anika", "pieter", "marelize", "johan", "elna", "dewald"],
        "list_name": ["inkopielys", "takelys", "paklys", "verjaarsdaglys", "leeslys", "wenslys"],
        "item": ["melk", "eiers", "brood", "piesangs", "koffie", "toiletpapier", "batterye"],
        "currency_name": ["dollar", "euro", "yen", "switserse frank", "rand", "pond"],
        "food_type": ["pizza", "sushi", "hoender", "slaptjips", "hamburgers", "bunny chow", "vetkoek"],
        "business_name": ["pizza palazzo", "die braaihuis", "sushi corner", "hoender hoek", "vetkoek paleis"],
        "order_type": ["aflewering", "afhaal"],
        "joke_type": ["snaakse", "kort", "flou", "slegte", "lawwe", "dom", "ou", "goeie"],
        "topic": ["katte", "rekenaars", "sokker", "dokters", "onderwysers", "die weer", "motors"],
    },
}

ES_ES = {
    "templates": {
        "alarm_set": [
            "pon una alarma a {time}",
            "despiértame {date} a {time}",
            "programa una alarma para {date} a {time}",
            "necesito una alarma a {time}",
            "puedes poner mi despertador a {time}",
            "nueva alarma {date} a {time}",
            "alarma a {time} por favor",
            "asegúrate de despertarme {date} a {time}",
        ],
        "alarm_query": [
            "qué alarmas tengo para {date}",
            "enséñame mis alarmas",
            "hay alguna alarma puesta a {time}",
            "tengo alguna alarma {date}",
            "a qué hora suena mi alarma {date}",
            "dime todas las alarmas para {date}",
            "cuándo suena mi próxima alarma",
            "sigue activa la alarma de {time}",
        ],
        "weather_query": [
            "qué tiempo hará {date} en {place_name}",
            "habrá {weather_descriptor} en {place_name} {date}",
            "cuánto calor hará {date} en {place_name}",
            "necesito paraguas {date}",
            "previsión del tiempo para {place_name}",
            "a cuántos grados estamos ahora en {place_name}",
            "se espera {weather_descriptor} para {date}",
            "qué tiempo hace en {place_name}",
        ],
        "play_music": [
            "pon {song_name}",
            "pon algo de {artist_name}",
            "quiero escuchar a {artist_name}",
            "ponme un poco de {music_genre}",
            "reproduce {song_name}",
            "puedes poner la canción {song_name}",
            "me apetece escuchar {music_genre}",
            "pon música de {artist_name}",
        ],
        "audio_volume_up": [
            "sube el volumen",
            "aumenta el volumen {change_amount}",
            "sube el volumen del {device_type}",
            "más alto por favor",
            "puedes subir un poco la música",
            "no oigo nada sube el volumen",
            "pon el volumen {change_amount} más alto",
            "sube el {device_type}",
            "sube el volumen del {device_type} {change_amount}",
        ],
        "audio_volume_mute": [
            "silencia el {device_type}",
            "quita el sonido",
            "silencio por favor",
            "silencia el sonido durante {duration}",
            "puedes silenciarlo todo",
            "cállate",
            "quita el volumen durante {duration}",
            "pon el {device_type} en silencio",
            "silencia el {device_type} durante {duration}",
        ],
        "iot_hue_lightoff": [
            "apaga la luz del {house_place}",
            "apaga las luces del {house_place}",
            "luces fuera",
            "puedes apagar la luz del {house_place}",
            "apaga todas las luces",
            "hay demasiada luz en el {house_place} apágala",
            "desconecta la iluminación del {house_place}",
            "apaga las luces por favor",
            "quiero la luz del {house_place} apagada",
        ],
        "calendar_set": [
            "añade una {event_name} a mi calendario para {date}",
            "programa una reunión con {person} {date} a {time}",
            "apunta una {event_name} {date}",
            "tengo una {event_name} {date} a {time} añádela al calendario",
            "nuevo evento {event_name} {date}",
            "pon una {event_name} en el calendario a {time}",
            "recuérdame la {event_name} {date}",
            "organiza una cita con {person} para {date}",
        ],
        "lists_createoradd": [
            "añade {item} a mi {list_name}",
            "crea una {list_name} nueva",
            "apunta {item} en la {list_name}",
            "haz una {list_name}",
            "tengo que poner {item} en la {list_name}",
            "añade {item} a la lista",
            "empieza una {list_name}",
            "puedes meter {item} en mi {list_name}",
        ],
        "qa_currency": [
            "a cuánto está el {currency_name} frente al {currency_name}",
            "cuál es el cambio de {currency_name} a {currency_name}",
            "cuál es el tipo de cambio entre el {currency_name} y el {currency_name}",
            "cómo está hoy el {currency_name}",
            "tipo de cambio {currency_name} {currency_name}",
            "ha subido el {currency_name} respecto al {currency_name}",
            "cuánto vale el {currency_name} ahora mismo",
        ],
        "takeaway_order": [
            "pide {food_type} en {business_name}",
            "quiero {food_type} {order_type}",
            "puedes pedirme {food_type} a domicilio",
            "haz un pedido en {business_name}",
            "quiero pedir {food_type} para llevar",
            "{business_name} tiene servicio {order_type}",
            "encárgame {food_type} de {business_name}",
            "pide la cena en {business_name} {order_type}",
        ],
        "general_joke": [
            "cuéntame un chiste",
            "cuéntame un chiste {joke_type}",
            "te sabes algún chiste {joke_type}",
            "hazme reír",
            "quiero oír un chiste {joke_type}",
            "dime algo gracioso",
            "sabes algún buen chiste",
            "anímame con un chiste {joke_type}",
            "cuéntame un chiste sobre {topic}",
        ],
    },
    "slots": {
        "time": [
            "las siete",
            "las seis y media",
            "las ocho y media",
            "las siete menos cuarto",
            "las cinco y cuarto",
            "las nueve de la noche",
            "las doce del mediodía",
        ],
        "date": ["hoy", "mañana", "pasado mañana", "este viernes", "el lunes que viene", "el sábado"],
        "place_name": ["madrid", "barcelona", "sevilla", "valencia", "bilbao", "málaga", "zaragoza"],
        "weather_descriptor": ["lluvia", "nieve", "niebla", "sol", "granizo", "tormenta", "viento"],
        "artist_name": [
            "rosalía",
            "alejandro sanz",
            "estopa",
            "joaquín sabina",
            "mecano",
            "pablo alborán",
            "la oreja de van gogh",
        ],
        "song_name": [
            "malamente",
            "corazón partío",
            "la flaca",
            "mediterráneo",
            "hijo de la luna",
            "entre dos aguas",
            "despechá",
        ],
        "music_genre": ["jazz", "rock", "flamenco", "reguetón", "música clásica", "pop", "rumba"],
        "change_amount": [
            "un diez por ciento",
            "un veinte por ciento",
            "dos niveles",
            "tres puntos",
            "un quince por ciento",
        ],
        "device_type": ["altavoz", "televisor", "equipo de música", "amplificador"],
        "duration": ["diez minutos", "media hora", "una hora", "cinco minutos", "veinte minutos"],
        "house_place": ["salón", "dormitorio", "baño", "pasillo", "garaje", "comedor", "despacho"],
        "event_name": [
            "cita con el dentista",
            "reunión de equipo",
            "clase de yoga",
            "cita en la peluquería",
            "entrevista de trabajo",
            "reunión de padres",
            "cita con el médico",
        ],
        "person": ["lucía", "javier", "marta", "pablo", "carmen", "sergio"],
        "list_name": [
            "lista de la compra",
            "lista de tareas",
            "lista de regalos",
            "lista de viaje",
            "lista de lecturas",
            "lista de deseos",
        ],
        "item": ["leche", "huevos", "pan", "plátanos", "café", "papel de cocina", "pilas"],
        "currency_name": ["dólar", "euro", "yen", "franco suizo", "peso mexicano", "real brasileño"],
        "food_type": [
            "pizza",
            "sushi",
            "kebab",
            "hamburguesas",
            "comida china",
            "pollo asado",
            "tortilla de patatas",
        ],
        "business_name": [
            "pizzería napoli",
            "el rincón de asia",
            "kebab istanbul",
            "sushi kyoto",
            "la hamburguesería",
        ],
        "order_type": ["a domicilio", "para llevar"],
        "joke_type": ["gracioso", "corto", "malo", "tonto", "absurdo", "de humor negro", "bueno", "nuevo"],
        "topic": ["gatos", "informáticos", "fútbol", "médicos", "profesores", "el tiempo", "coches"],
    },
}

PT_PT = {
    "templates": {
        "alarm_set": [
            "põe um alarme para as {time}",
            "acorda-me {date} às {time}",
            "define um alarme para {date} às {time}",
            "preciso de um alarme às {time}",
            "podes pôr o meu despertador para as {time}",
            "novo alarme {date} às {time}",
            "alarme às {time} por favor",
            "garante que acordo {date} às {time}",
        ],
        "alarm_query": [
            "que alarmes tenho para {date}",
            "mostra-me os meus alarmes",
            "há algum alarme para as {time}",
            "tenho algum alarme {date}",
            "a que horas toca o meu alarme {date}",
            "lista todos os alarmes para {date}",
            "quando toca o próximo alarme",
            "o alarme das {time} ainda está ligado",
        ],
        "weather_query": [
            "como vai estar o tempo {date} em {place_name}",
            "vai haver {weather_descriptor} em {place_name} {date}",
            "qual vai ser a temperatura {date} em {place_name}",
            "preciso de guarda-chuva {date}",
            "previsão do tempo para {place_name}",
            "quantos graus estão agora em {place_name}",
            "há previsão de {weather_descriptor} para {date}",
            "como está o tempo em {place_name}",
        ],
        "play_music": [
            "toca {song_name}",
            "põe alguma coisa de {artist_name}",
            "quero ouvir {artist_name}",
            "põe um bocado de {music_genre}",
            "reproduz {song_name}",
            "podes tocar a música {song_name}",
            "apetece-me ouvir {music_genre}",
            "põe música de {artist_name}",
        ],
        "audio_volume_up": [
            "aumenta o volume",
            "sobe o volume em {change_amount}",
            "aumenta o som do {device_type}",
            "mais alto por favor",
            "podes subir um pouco a música",
            "não ouço nada aumenta o som",
            "põe o volume {change_amount} mais alto",
            "aumenta o volume do {device_type}",
            "aumenta o volume do {device_type} em {change_amount}",
        ],
        "audio_volume_mute": [
            "silencia o {device_type}",
            "tira o som",
            "silêncio por favor",
            "corta o som durante {duration}",
            "podes silenciar tudo",
            "cala-te",
            "desliga o som durante {duration}",
            "põe o {device_type} em silêncio",
            "silencia o {device_type} durante {duration}",
        ],
        "iot_hue_lightoff": [
            "apaga a luz da {house_place}",
            "desliga as luzes da {house_place}",
            "apaga as luzes",
            "podes apagar a luz da {house_place}",
            "apaga todas as luzes",
            "há demasiada luz na {house_place} apaga a luz",
            "desliga a iluminação da {house_place}",
            "desliga as luzes por favor",
            "quero a luz da {house_place} apagada",
        ],
        "calendar_set": [
            "adiciona uma {event_name} ao meu calendário para {date}",
            "marca uma reunião com {person} {date} às {time}",
            "aponta uma {event_name} {date}",
            "tenho uma {event_name} {date} às {time} põe no calendário",
            "novo evento {event_name} {date}",
            "põe uma {event_name} no calendário às {time}",
            "lembra-me da {event_name} {date}",
            "marca um encontro com {person} para {date}",
        ],
        "lists_createoradd": [
            "acrescenta {item} à minha {list_name}",
            "cria uma nova {list_name}",
            "adiciona {item} à {list_name}",
            "faz uma {list_name}",
            "tenho de pôr {item} na {list_name}",
            "põe {item} na lista",
            "começa uma {list_name} nova",
            "podes adicionar {item} à minha {list_name}",
        ],
        "qa_currency": [
            "a quanto está o {currency_name} face ao {currency_name}",
            "qual é o câmbio de {currency_name} para {currency_name}",
            "qual é a taxa de câmbio entre o {currency_name} e o {currency_name}",
            "como está hoje o {currency_name}",
            "câmbio {currency_name} {currency_name}",
            "o {currency_name} subiu em relação ao {currency_name}",
            "quanto vale o {currency_name} neste momento",
        ],
        "takeaway_order": [
            "encomenda {food_type} na {business_name}",
            "quero {food_type} para {order_type}",
            "podes pedir-me {food_type} com entrega em casa",
            "faz uma encomenda na {business_name}",
            "quero encomendar {food_type} para levar",
            "a {business_name} faz {order_type}",
            "pede-me {food_type} da {business_name}",
            "encomenda o jantar na {business_name} para {order_type}",
        ],
        "general_joke": [
            "conta-me uma anedota",
            "conta-me uma anedota {joke_type}",
            "sabes alguma anedota {joke_type}",
            "faz-me rir",
            "quero ouvir uma anedota {joke_type}",
            "diz alguma coisa engraçada",
            "sabes boas piadas",
            "anima-me com uma piada {joke_type}",
            "conta-me uma anedota sobre {topic}",
        ],
    },
    "slots": {
        "time": [
            "sete horas",
            "seis e meia",
            "oito e meia",
            "sete menos um quarto",
            "cinco e um quarto",
            "nove da noite",
            "duas da tarde",
        ],
        "date": ["hoje", "amanhã", "depois de amanhã", "esta sexta-feira", "segunda-feira", "sábado"],
        "place_name": ["lisboa", "porto", "coimbra", "faro", "braga", "aveiro", "évora"],
        "weather_descriptor": ["chuva", "neve", "nevoeiro", "sol", "granizo", "trovoada", "vento forte"],
        "artist_name": [
            "mariza",
            "amália rodrigues",
            "xutos e pontapés",
            "ana moura",
            "david carreira",
            "madredeus",
            "salvador sobral",
        ],
        "song_name": [
            "amar pelos dois",
            "barco negro",
            "uma casa portuguesa",
            "grândola vila morena",
            "não sou o único",
            "o pastor",
            "chuva",
        ],
        "music_genre": ["jazz", "rock", "fado", "kizomba", "música clássica", "pop", "hip hop"],
        "change_amount": [
            "dez por cento",
            "vinte por cento",
            "dois níveis",
            "três pontos",
            "quinze por cento",
        ],
        "device_type": ["altifalante", "televisor", "rádio", "amplificador"],
        "duration": ["dez minutos", "meia hora", "uma hora", "cinco minutos", "vinte minutos"],
        "house_place": [
            "cozinha",
            "sala",
            "casa de banho",
            "sala de jantar",
            "garagem",
            "varanda",
            "entrada",
        ],
        "event_name": [
            "consulta no dentista",
            "reunião de equipa",
            "aula de ioga",
            "marcação no cabeleireiro",
            "entrevista de emprego",
            "reunião de pais",
            "consulta médica",
        ],
        "person": ["inês", "joão", "beatriz", "tiago", "mariana", "rui"],
        "list_name": [
            "lista de compras",
            "lista de tarefas",
            "lista de prendas",
            "lista de viagem",
            "lista de leituras",
            "lista de desejos",
        ],
        "item": ["leite", "ovos", "pão", "bananas", "café", "rolo de cozinha", "pilhas"],
        "currency_name": ["dólar", "euro", "iene", "franco suíço", "real brasileiro", "kwanza"],
        "food_type": [
            "pizza",
            "sushi",
            "frango assado",
            "hambúrgueres",
            "comida chinesa",
            "francesinha",
            "bifanas",
        ],
        "business_name": [
            "pizzaria bella",
            "churrasqueira do bairro",
            "hamburgueria central",
            "tasca do zé",
            "marisqueira atlântico",
        ],
        "order_type": ["entrega ao domicílio", "take away"],
        "joke_type": ["engraçada", "curta", "parva", "má", "seca", "de alentejanos", "boa", "nova"],
        "topic": ["gatos", "computadores", "futebol", "médicos", "professores", "o tempo", "carros"],
    },
}

IT_IT = {
    "templates": {
        "alarm_set": [
            "metti una sveglia alle {time}",
            "svegliami {date} alle {time}",
            "imposta una sveglia per {date} alle {time}",
            "mi serve una sveglia alle {time}",
            "puoi impostare la mia sveglia alle {time}",
            "nuova sveglia {date} alle {time}",
            "sveglia alle {time} per favore",
            "fai in modo che mi svegli {date} alle {time}",
        ],
        "alarm_query": [
            "che sveglie ho per {date}",
            "mostrami le mie sveglie",
            "c'è una sveglia alle {time}",
            "ho qualche sveglia {date}",
            "a che ora suona la sveglia {date}",
            "elenca tutte le sveglie per {date}",
            "quando suona la prossima sveglia",
            "la sveglia delle {time} è ancora attiva",
        ],
        "weather_query": [
            "che tempo farà {date} a {place_name}",
            "ci sarà {weather_descriptor} a {place_name} {date}",
            "quanto farà caldo {date} a {place_name}",
            "mi serve l'ombrello {date}",
            "previsioni meteo per {place_name}",
            "quanti gradi ci sono adesso a {place_name}",
            "danno {weather_descriptor} per {date}",
            "com'è il tempo a {place_name}",
        ],
        "play_music": [
            "metti {song_name}",
            "metti qualcosa di {artist_name}",
            "voglio ascoltare {artist_name}",
            "fammi sentire un po' di {music_genre}",
            "riproduci {song_name}",
            "puoi mettere la canzone {song_name}",
            "ho voglia di ascoltare {music_genre}",
            "metti musica di {artist_name}",
        ],
        "audio_volume_up": [
            "alza il volume",
            "aumenta il volume {change_amount}",
            "alza il volume della {device_type}",
            "più forte per favore",
            "puoi alzare un po' la musica",
            "non sento niente alza il volume",
            "porta su il volume {change_amount}",
            "alza la {device_type}",
            "alza il volume della {device_type} {change_amount}",
        ],
        "audio_volume_mute": [
            "silenzia la {device_type}",
            "togli l'audio",
            "silenzio per favore",
            "disattiva l'audio per {duration}",
            "puoi silenziare tutto",
            "stai zitto",
            "togli il volume per {duration}",
            "metti la {device_type} in muto",
            "silenzia la {device_type} per {duration}",
        ],
        "iot_hue_lightoff": [
            "spegni la luce in {house_place}",
            "spegni le luci in {house_place}",
            "luci spente",
            "puoi spegnere la luce in {house_place}",
            "spegni tutte le luci",
            "c'è troppa luce in {house_place} spegni",
            "disattiva le lampade in {house_place}",
            "spegni le luci per favore",
            "voglio la luce spenta in {house_place}",
        ],
        "calendar_set": [
            "aggiungi un {event_name} al calendario per {date}",
            "fissa una riunione con {person} {date} alle {time}",
            "segna un {event_name} {date}",
            "ho un {event_name} {date} alle {time} aggiungilo al calendario",
            "nuovo evento {event_name} {date}",
            "metti un {event_name} in agenda alle {time}",
            "ricordami che ho un {event_name} {date}",
            "organizza un incontro con {person} per {date}",
        ],
        "lists_createoradd": [
            "aggiungi {item} alla mia {list_name}",
            "crea una nuova {list_name}",
            "metti {item} nella {list_name}",
            "fai una {list_name}",
            "devo mettere {item} nella {list_name}",
            "aggiungi {item} alla lista",
            "inizia una {list_name} nuova",
            "puoi aggiungere {item} alla {list_name}",
        ],
        "qa_currency": [
            "quanto vale il {currency_name} rispetto al {currency_name}",
            "qual è il cambio tra {currency_name} e {currency_name}",
            "tasso di cambio tra {currency_name} e {currency_name}",
            "com'è oggi il {currency_name}",
            "cambio {currency_name} {currency_name}",
            "il {currency_name} è salito rispetto al {currency_name}",
            "quanto vale il {currency_name} in questo momento",
        ],
        "takeaway_order": [
            "ordina {food_type} da {business_name}",
            "vorrei ordinare {food_type} {order_type}",
            "puoi ordinarmi {food_type} a domicilio",
            "fai un ordine da {business_name}",
            "voglio {food_type} da asporto",
            "{business_name} fa servizio {order_type}",
            "prendimi {food_type} da {business_name}",
            "ordina la cena da {business_name} {order_type}",
        ],
        "general_joke": [
            "raccontami una barzelletta",
            "raccontami una barzelletta {joke_type}",
            "conosci una barzelletta {joke_type}",
            "fammi ridere",
            "voglio sentire una barzelletta {joke_type}",
            "dimmi qualcosa di divertente",
            "sai qualche bella barzelletta",
            "tirami su con una barzelletta {joke_type}",
            "raccontami una barzelletta che parla di {topic}",
        ],
    },
    "slots": {
        "time": [
            "sette",
            "sei e mezza",
            "otto e mezza",
            "sette meno un quarto",
            "cinque e un quarto",
            "nove di sera",
            "dodici",
        ],
        "date": ["oggi", "domani", "dopodomani", "questo venerdì", "lunedì prossimo", "sabato"],
        "place_name": ["roma", "milano", "napoli", "torino", "firenze", "bologna", "palermo"],
        "weather_descriptor": ["pioggia", "neve", "nebbia", "sole", "grandine", "temporale", "vento"],
        "artist_name": [
            "laura pausini",
            "vasco rossi",
            "eros ramazzotti",
            "måneskin",
            "lucio dalla",
            "adriano celentano",
            "mina",
        ],
        "song_name": [
            "volare",
            "albachiara",
            "caruso",
            "la solitudine",
            "zitti e buoni",
            "azzurro",
            "più bella cosa",
        ],
        "music_genre": ["jazz", "rock", "musica classica", "rap", "pop", "musica lirica", "blues"],
        "change_amount": [
            "del dieci per cento",
            "del venti per cento",
            "di due tacche",
            "di tre livelli",
            "del quindici per cento",
        ],
        "device_type": ["tv", "radio", "cassa", "soundbar"],
        "duration": ["dieci minuti", "mezz'ora", "un'ora", "cinque minuti", "venti minuti"],
        "house_place": ["cucina", "camera", "bagno", "salotto", "corridoio", "garage", "studio"],
        "event_name": [
            "appuntamento dal dentista",
            "appuntamento dal parrucchiere",
            "corso di yoga",
            "pranzo di lavoro",
            "colloquio di lavoro",
            "allenamento di calcio",
            "appuntamento dal medico",
        ],
        "person": ["giulia", "marco", "francesca", "luca", "chiara", "matteo"],
        "list_name": [
            "lista della spesa",
            "lista delle cose da fare",
            "lista dei regali",
            "lista per il viaggio",
            "lista dei libri",
            "lista dei desideri",
        ],
        "item": ["latte", "uova", "pane", "banane", "caffè", "carta da cucina", "pile"],
        "currency_name": ["dollaro", "yen", "franco svizzero", "rublo", "dollaro canadese", "peso messicano"],
        "food_type": ["pizza", "sushi", "kebab", "hamburger", "cibo cinese", "pollo fritto", "piadina"],
        "business_name": ["mario", "sushi zen", "ali kebab", "burger house", "drago d'oro"],
        "order_type": ["a domicilio", "da asporto"],
        "joke_type": [
            "divertente",
            "corta",
            "stupida",
            "sui carabinieri",
            "cattiva",
            "nuova",
            "vecchia",
            "scema",
        ],
        "topic": ["gatti", "computer", "calcio", "medici", "insegnanti", "animali", "macchine"],
    },
}

FR_FR = {
    "templates": {
        "alarm_set": [
            "mets une alarme à {time}",
            "réveille-moi {date} à {time}",
            "programme une alarme pour {date} à {time}",
            "j'ai besoin d'une alarme à {time}",
            "tu peux régler mon réveil sur {time}",
            "nouvelle alarme {date} à {time}",
            "alarme à {time} s'il te plaît",
            "fais en sorte que je me réveille {date} à {time}",
        ],
        "alarm_query": [
            "quelles alarmes j'ai pour {date}",
            "montre-moi mes alarmes",
            "est-ce qu'il y a une alarme à {time}",
            "j'ai une alarme {date}",
            "à quelle heure sonne mon réveil {date}",
            "liste toutes les alarmes pour {date}",
            "quand sonne ma prochaine alarme",
            "l'alarme de {time} est toujours active",
        ],
        "weather_query": [
            "quel temps fera-t-il {date} à {place_name}",
            "y a-t-il un risque de {weather_descriptor} à {place_name} {date}",
            "quelle température fera-t-il {date} à {place_name}",
            "est-ce que j'ai besoin d'un parapluie {date}",
            "météo pour {place_name}",
            "il fait combien de degrés à {place_name} en ce moment",
            "quel est le risque de {weather_descriptor} pour {date}",
            "quel temps fait-il à {place_name}",
        ],
        "play_music": [
            "joue {song_name}",
            "mets quelque chose de {artist_name}",
            "je veux écouter {artist_name}",
            "mets-moi un peu de {music_genre}",
            "lance {song_name}",
            "tu peux jouer la chanson {song_name}",
            "mets une playlist {music_genre}",
            "mets de la musique de {artist_name}",
        ],
        "audio_volume_up": [
            "monte le son",
            "augmente le volume de {change_amount}",
            "monte le volume de la {device_type}",
            "plus fort s'il te plaît",
            "tu peux monter un peu la musique",
            "j'entends rien monte le son",
            "mets le volume {change_amount} plus haut",
            "monte la {device_type}",
            "monte le volume de la {device_type} de {change_amount}",
        ],
        "audio_volume_mute": [
            "coupe le son de la {device_type}",
            "coupe le son",
            "silence s'il te plaît",
            "coupe le son pendant {duration}",
            "tu peux tout mettre en sourdine",
            "tais-toi",
            "mets le volume à zéro pendant {duration}",
            "mets la {device_type} en sourdine",
            "coupe le son de la {device_type} pendant {duration}",
        ],
        "iot_hue_lightoff": [
            "éteins la lumière de la {house_place}",
            "éteins les lumières dans la {house_place}",
            "éteins la lumière",
            "tu peux éteindre la lumière de la {house_place}",
            "éteins toutes les lumières",
            "il y a trop de lumière dans la {house_place} éteins",
            "coupe l'éclairage de la {house_place}",
            "éteins les lampes s'il te plaît",
            "je veux la lumière éteinte dans la {house_place}",
        ],
        "calendar_set": [
            "ajoute un {event_name} à mon agenda pour {date}",
            "organise une réunion avec {person} {date} à {time}",
            "note un {event_name} {date}",
            "j'ai un {event_name} {date} à {time} ajoute-le au calendrier",
            "nouvel événement {event_name} {date}",
            "mets un {event_name} dans l'agenda à {time}",
            "rappelle-moi que j'ai un {event_name} {date}",
            "fixe un rendez-vous avec {person} pour {date}",
        ],
        "lists_createoradd": [
            "ajoute {item} à ma {list_name}",
            "crée une nouvelle {list_name}",
            "mets {item} sur la {list_name}",
            "fais une {list_name}",
            "je dois mettre {item} sur la {list_name}",
            "ajoute {item} à la liste",
            "commence une {list_name}",
            "tu peux ajouter {item} à ma {list_name}",
        ],
        "qa_currency": [
            "quel est le taux de change entre le {currency_name} et le {currency_name}",
            "combien vaut le {currency_name} par rapport au {currency_name}",
            "le {currency_name} vaut combien en ce moment",
            "donne-moi le cours du {currency_name}",
            "taux de change {currency_name} {currency_name}",
            "est-ce que le {currency_name} a baissé face au {currency_name}",
            "comment se porte le {currency_name} aujourd'hui",
        ],
        "takeaway_order": [
            "commande un {food_type} chez {business_name}",
            "je voudrais un {food_type} {order_type}",
            "tu peux me faire livrer un {food_type}",
            "passe une commande chez {business_name}",
            "je veux commander un {food_type} à emporter",
            "est-ce que {business_name} fait la livraison",
            "prends-moi un {food_type} chez {business_name}",
            "commande le dîner chez {business_name} {order_type}",
        ],
        "general_joke": [
            "raconte-moi une blague",
            "raconte-moi une blague {joke_type}",
            "tu connais une blague {joke_type}",
            "fais-moi rire",
            "je veux entendre une blague {joke_type}",
            "dis-moi quelque chose de drôle",
            "tu as des bonnes blagues",
            "remonte-moi le moral avec une blague {joke_type}",
            "raconte-moi une blague sur {topic}",
        ],
    },
    "slots": {
        "time": [
            "sept heures",
            "six heures et demie",
            "huit heures et demie",
            "sept heures moins le quart",
            "cinq heures et quart",
            "neuf heures du soir",
            "midi",
        ],
        "date": ["aujourd'hui", "demain", "après-demain", "ce vendredi", "lundi prochain", "samedi"],
        "place_name": ["paris", "lyon", "marseille", "toulouse", "bordeaux", "lille", "nantes"],
        "weather_descriptor": ["pluie", "neige", "brouillard", "grêle", "verglas", "tempête", "canicule"],
        "artist_name": [
            "stromae",
            "jacques brel",
            "johnny hallyday",
            "zaz",
            "mylène farmer",
            "céline dion",
            "daft punk",
        ],
        "song_name": [
            "la vie en rose",
            "alors on danse",
            "dernière danse",
            "ne me quitte pas",
            "balance ton quoi",
            "je veux",
            "non je ne regrette rien",
        ],
        "music_genre": ["jazz", "rock", "rap", "musique classique", "chanson française", "techno", "pop"],
        "change_amount": [
            "dix pour cent",
            "vingt pour cent",
            "deux crans",
            "trois niveaux",
            "quinze pour cent",
        ],
        "device_type": ["télé", "radio", "barre de son", "chaîne hi-fi"],
        "duration": ["dix minutes", "une demi-heure", "une heure", "cinq minutes", "vingt minutes"],
        "house_place": [
            "cuisine",
            "chambre",
            "salle de bain",
            "salle à manger",
            "buanderie",
            "salle de jeux",
            "véranda",
        ],
        "event_name": [
            "rendez-vous chez le dentiste",
            "cours de yoga",
            "rendez-vous chez le coiffeur",
            "déjeuner d'affaires",
            "entretien d'embauche",
            "rendez-vous chez le médecin",
            "match de foot",
        ],
        "person": ["camille", "julien", "chloé", "thomas", "léa", "nicolas"],
        "list_name": [
            "liste de courses",
            "liste de tâches",
            "liste de cadeaux",
            "liste de voyage",
            "liste de lecture",
            "liste de souhaits",
        ],
        "item": ["du lait", "des œufs", "du pain", "des bananes", "du café", "de l'essuie-tout", "des piles"],
        "currency_name": [
            "dollar",
            "yen",
            "franc suisse",
            "dollar canadien",
            "peso mexicain",
            "rand sud-africain",
        ],
        "food_type": ["kebab", "burger", "poulet rôti", "tacos", "poke bowl", "couscous", "plat thaï"],
        "business_name": ["pizza napoli", "le dragon d'or", "sushi zen", "o'tacos", "burger express"],
        "order_type": ["en livraison", "à emporter"],
        "joke_type": ["drôle", "courte", "nulle", "de toto", "méchante", "belge", "pourrie", "débile"],
        "topic": [
            "les chats",
            "les ordinateurs",
            "le foot",
            "les médecins",
            "les profs",
            "la météo",
            "les voitures",
        ],
    },
}

ID_ID = {
    "templates": {
        "alarm_set": [
            "pasang alarm jam {time}",
            "bangunkan aku {date} jam {time}",
            "tolong setel alarm untuk {date} pukul {time}",
            "aku butuh alarm jam {time}",
            "bisa setel alarmku ke jam {time}",
            "alarm baru {date} jam {time}",
            "alarm jam {time} ya",
            "pastikan aku bangun {date} jam {time}",
        ],
        "alarm_query": [
            "alarm apa saja yang ada untuk {date}",
            "tunjukkan semua alarmku",
            "apakah ada alarm jam {time}",
            "aku punya alarm {date} tidak",
            "alarmku bunyi jam berapa {date}",
            "daftar semua alarm untuk {date}",
            "kapan alarm berikutnya berbunyi",
            "apakah alarm jam {time} masih aktif",
        ],
        "weather_query": [
            "bagaimana cuaca {date} di {place_name}",
            "apakah akan {weather_descriptor} di {place_name} {date}",
            "seberapa panas {date} di {place_name}",
            "perlu bawa payung {date}",
            "prakiraan cuaca untuk {place_name}",
            "berapa suhu di {place_name} sekarang",
            "apakah {date} {weather_descriptor}",
            "cuaca di {place_name} seperti apa",
        ],
        "play_music": [
            "putar lagu {song_name}",
            "putar lagu dari {artist_name}",
            "aku mau dengar {artist_name}",
            "putarkan musik {music_genre}",
            "mainkan {song_name}",
            "bisa putar {song_name} nggak",
            "lagi pengen dengar {music_genre}",
            "setel lagu lagu {artist_name}",
        ],
        "audio_volume_up": [
            "besarkan volumenya",
            "naikkan volume {change_amount}",
            "keraskan suara {device_type}",
            "volume naik dong",
            "bisa besarkan sedikit musiknya",
            "aku nggak dengar apa apa keraskan suaranya",
            "tambah volume {change_amount} lagi",
            "naikkan volume {device_type}",
            "naikkan volume {device_type} {change_amount}",
        ],
        "audio_volume_mute": [
            "matikan suara {device_type}",
            "bisukan",
            "tolong diam",
            "bisukan suara selama {duration}",
            "bisa matikan semua suara",
            "aktifkan mode senyap",
            "matikan suaranya selama {duration}",
            "bisukan {device_type}",
            "bisukan {device_type} selama {duration}",
        ],
        "iot_hue_lightoff": [
            "matikan lampu di {house_place}",
            "matikan lampu {house_place}",
            "padamkan lampu",
            "bisa matikan lampu di {house_place}",
            "matikan semua lampu",
            "di {house_place} terlalu terang matikan lampunya",
            "tolong padamkan lampu di {house_place}",
            "matikan lampunya ya",
            "lampu di {house_place} dimatikan saja",
        ],
        "calendar_set": [
            "tambahkan {event_name} ke kalender untuk {date}",
            "jadwalkan pertemuan dengan {person} {date} jam {time}",
            "catat {event_name} {date}",
            "aku ada {event_name} {date} jam {time} masukkan ke kalender",
            "acara baru {event_name} {date}",
            "masukkan {event_name} ke kalender jam {time}",
            "ingatkan aku soal {event_name} {date}",
            "buat janji dengan {person} untuk {date}",
        ],
        "lists_createoradd": [
            "tambahkan {item} ke {list_name}",
            "buat {list_name} baru",
            "masukkan {item} ke {list_name} saya",
            "bikin {list_name}",
            "aku harus menambahkan {item} ke {list_name}",
            "tulis {item} di daftar",
            "mulai {list_name} baru",
            "bisa tambahkan {item} ke {list_name} nggak",
        ],
        "qa_currency": [
            "berapa kurs {currency_name} ke {currency_name} hari ini",
            "satu {currency_name} berapa {currency_name}",
            "tukar {currency_name} ke {currency_name}",
            "nilai tukar {currency_name} terhadap {currency_name}",
            "berapa nilai {currency_name} sekarang",
            "apakah {currency_name} sedang menguat terhadap {currency_name}",
            "kurs {currency_name} {currency_name}",
        ],
        "takeaway_order": [
            "pesan {food_type} dari {business_name}",
            "aku mau {food_type} {order_type}",
            "bisa pesankan {food_type} antar ke rumah",
            "buat pesanan di {business_name}",
            "aku mau pesan {food_type} untuk dibawa pulang",
            "apakah {business_name} bisa {order_type}",
            "belikan aku {food_type} dari {business_name}",
            "pesan makan malam dari {business_name} {order_type}",
        ],
        "general_joke": [
            "ceritakan lelucon",
            "ceritakan lelucon {joke_type}",
            "kamu tahu lelucon {joke_type} nggak",
            "bikin aku ketawa",
            "aku mau dengar lelucon {joke_type}",
            "katakan sesuatu yang lucu",
            "punya lelucon bagus",
            "hibur aku dengan lelucon {joke_type}",
            "ceritakan lelucon tentang {topic}",
        ],
    },
    "slots": {
        "time": [
            "tujuh pagi",
            "setengah tujuh pagi",
            "setengah sembilan",
            "tujuh kurang seperempat",
            "lima lewat seperempat",
            "sembilan malam",
            "dua belas siang",
        ],
        "date": ["hari ini", "besok", "lusa", "jumat ini", "senin depan", "hari sabtu"],
        "place_name": ["jakarta", "bandung", "surabaya", "yogyakarta", "medan", "denpasar", "makassar"],
        "weather_descriptor": [
            "hujan",
            "hujan deras",
            "berkabut",
            "cerah",
            "mendung",
            "berangin",
            "panas terik",
        ],
        "artist_name": ["raisa", "tulus", "noah", "dewa", "isyana sarasvati", "iwan fals", "slank"],
        "song_name": [
            "bento",
            "kangen",
            "sempurna",
            "hati hati di jalan",
            "ruang rindu",
            "kasih putih",
            "bunga terakhir",
        ],
        "music_genre": ["jazz", "rock", "dangdut", "keroncong", "klasik", "pop", "hip hop"],
        "change_amount": [
            "sepuluh persen",
            "dua puluh persen",
            "dua tingkat",
            "tiga level",
            "lima belas persen",
        ],
        "device_type": ["tv", "radio", "speaker", "soundbar", "pengeras suara"],
        "duration": ["sepuluh menit", "setengah jam", "satu jam", "lima menit", "dua puluh menit"],
        "house_place": [
            "ruang tamu",
            "kamar tidur",
            "kamar mandi",
            "dapur",
            "garasi",
            "ruang makan",
            "teras",
        ],
        "event_name": [
            "janji dengan dokter gigi",
            "rapat tim",
            "kelas yoga",
            "potong rambut",
            "wawancara kerja",
            "arisan",
            "kontrol ke dokter",
        ],
        "person": ["budi", "siti", "andi", "dewi", "rizky", "putri"],
        "list_name": [
            "daftar belanja",
            "daftar tugas",
            "daftar kado",
            "daftar bawaan",
            "daftar bacaan",
            "daftar keinginan",
        ],
        "item": ["susu", "telur", "roti", "pisang", "kopi", "tisu dapur", "baterai"],
        "currency_name": ["dolar amerika", "euro", "yen", "ringgit", "rupiah", "dolar singapura"],
        "food_type": ["pizza", "sushi", "nasi goreng", "sate ayam", "martabak", "bakso", "ayam geprek"],
        "business_name": [
            "warung pak budi",
            "pizza nusantara",
            "sate senayan",
            "bakso cak man",
            "martabak bangka",
        ],
        "order_type": ["diantar", "dibawa pulang"],
        "joke_type": ["lucu", "pendek", "garing", "receh", "bapak bapak", "konyol", "jayus", "lama"],
        "topic": ["kucing", "komputer", "sepak bola", "dokter", "guru", "cuaca", "mobil"],
    },
}

MS_MY = {
    "templates": {
        "alarm_set": [
            "tetapkan penggera pada pukul {time}",
            "kejutkan saya {date} pukul {time}",
            "tolong tetapkan penggera untuk {date} pukul {time}",
            "saya perlukan penggera pukul {time}",
            "boleh set penggera saya ke pukul {time}",
            "penggera baharu {date} pukul {time}",
            "penggera pukul {time} ya",
            "pastikan saya bangun {date} pukul {time}",
        ],
        "alarm_query": [
            "apa penggera yang ada untuk {date}",
            "tunjukkan semua penggera saya",
            "adakah penggera pada pukul {time}",
            "adakah saya ada penggera {date}",
            "pukul berapa penggera saya berbunyi {date}",
            "senaraikan semua penggera untuk {date}",
            "bila penggera seterusnya akan berbunyi",
            "adakah penggera pukul {time} masih aktif",
        ],
        "weather_query": [
            "bagaimana cuaca {date} di {place_name}",
            "adakah akan {weather_descriptor} di {place_name} {date}",
            "berapa panas {date} di {place_name}",
            "perlukah saya bawa payung {date}",
            "ramalan cuaca untuk {place_name}",
            "berapa suhu di {place_name} sekarang",
            "adakah {date} akan {weather_descriptor}",
            "cuaca di {place_name} macam mana",
        ],
        "play_music": [
            "mainkan lagu {song_name}",
            "mainkan lagu daripada {artist_name}",
            "saya nak dengar {artist_name}",
            "pasangkan muzik {music_genre}",
            "mainkan {song_name}",
            "boleh mainkan {song_name}",
            "saya teringin nak dengar {music_genre}",
            "pasang lagu lagu {artist_name}",
        ],
        "audio_volume_up": [
            "kuatkan bunyi",
            "naikkan kelantangan sebanyak {change_amount}",
            "kuatkan bunyi {device_type}",
            "kelantangan naik sikit",
            "boleh kuatkan sedikit muzik ini",
            "saya tak dengar apa apa kuatkan bunyi",
            "tambah kelantangan {change_amount} lagi",
            "naikkan kelantangan {device_type}",
            "naikkan kelantangan {device_type} sebanyak {change_amount}",
        ],
        "audio_volume_mute": [
            "senyapkan {device_type}",
            "matikan bunyi",
            "tolong senyap",
            "senyapkan bunyi selama {duration}",
            "boleh senyapkan semuanya",
            "aktifkan mod senyap",
            "tutup bunyi selama {duration}",
            "matikan bunyi {device_type}",
            "senyapkan {device_type} selama {duration}",
        ],
        "iot_hue_lightoff": [
            "tutup lampu di {house_place}",
            "padamkan lampu {house_place}",
            "tutup lampu",
            "boleh tutup lampu di {house_place}",
            "tutup semua lampu",
            "di {house_place} terlalu terang tolong tutup lampu",
            "tolong padamkan lampu di {house_place}",
            "matikan lampu sekarang",
            "lampu {house_place} tolong tutup",
        ],
        "calendar_set": [
            "tambah {event_name} ke dalam kalendar untuk {date}",
            "jadualkan mesyuarat dengan {person} {date} pukul {time}",
            "catat {event_name} {date}",
            "saya ada {event_name} {date} pukul {time} masukkan ke dalam kalendar",
            "acara baharu {event_name} {date}",
            "masukkan {event_name} dalam kalendar pukul {time}",
            "ingatkan saya tentang {event_name} {date}",
            "buat temu janji dengan {person} untuk {date}",
        ],
        "lists_createoradd": [
            "tambah {item} ke dalam {list_name} saya",
            "buat {list_name} baharu",
            "masukkan {item} dalam {list_name}",
            "wujudkan {list_name}",
            "saya perlu tambah {item} ke {list_name}",
            "tulis {item} dalam senarai",
            "mulakan {list_name} baharu",
            "boleh tambah {item} ke dalam {list_name}",
        ],
        "qa_currency": [
            "berapakah kadar tukaran {currency_name} kepada {currency_name}",
            "satu {currency_name} bersamaan berapa {currency_name}",
            "tukar {currency_name} kepada {currency_name}",
            "kadar pertukaran {currency_name} berbanding {currency_name}",
            "berapa nilai {currency_name} sekarang",
            "adakah {currency_name} semakin kukuh berbanding {currency_name}",
            "kadar {currency_name} {currency_name} hari ini",
        ],
        "takeaway_order": [
            "pesan {food_type} dari {business_name}",
            "saya nak {food_type} {order_type}",
            "boleh pesankan {food_type} untuk dihantar",
            "buat pesanan di {business_name}",
            "saya nak pesan {food_type} untuk dibawa balik",
            "adakah {business_name} buat penghantaran",
            "belikan saya {food_type} dari {business_name}",
            "pesan makan malam dari {business_name} {order_type}",
        ],
        "general_joke": [
            "ceritakan satu jenaka",
            "ceritakan jenaka {joke_type}",
            "awak tahu jenaka {joke_type} tak",
            "buat saya ketawa",
            "saya nak dengar jenaka {joke_type}",
            "cakap sesuatu yang kelakar",
            "ada lawak yang bagus",
            "hiburkan saya dengan jenaka {joke_type}",
            "ceritakan jenaka tentang {topic}",
        ],
    },
    "slots": {
        "time": [
            "tujuh pagi",
            "enam tiga puluh pagi",
            "lapan tiga puluh pagi",
            "enam empat puluh lima pagi",
            "lima lima belas petang",
            "sembilan malam",
            "dua belas tengah hari",
        ],
        "date": ["hari ini", "esok", "lusa", "jumaat ini", "isnin depan", "hari sabtu"],
        "place_name": [
            "kuala lumpur",
            "pulau pinang",
            "johor bahru",
            "ipoh",
            "kota kinabalu",
            "kuching",
            "melaka",
        ],
        "weather_descriptor": [
            "hujan",
            "hujan lebat",
            "berkabus",
            "cerah",
            "mendung",
            "berangin",
            "panas terik",
        ],
        "artist_name": [
            "siti nurhaliza",
            "yuna",
            "search",
            "m nasir",
            "sudirman",
            "aizat amdan",
            "hael husaini",
        ],
        "song_name": [
            "cindai",
            "balik kampung",
            "isabella",
            "gemilang",
            "bukan cinta biasa",
            "kerana kau",
            "pelangi petang",
        ],
        "music_genre": ["jazz", "rock", "dangdut", "irama malaysia", "klasik", "pop", "nasyid"],
        "change_amount": [
            "sepuluh peratus",
            "dua puluh peratus",
            "dua tahap",
            "tiga aras",
            "lima belas peratus",
        ],
        "device_type": ["tv", "radio", "pembesar suara", "soundbar", "speaker"],
        "duration": ["sepuluh minit", "setengah jam", "satu jam", "lima minit", "dua puluh minit"],
        "house_place": ["ruang tamu", "bilik tidur", "bilik air", "dapur", "garaj", "ruang makan", "beranda"],
        "event_name": [
            "temu janji doktor gigi",
            "mesyuarat pasukan",
            "kelas yoga",
            "potong rambut",
            "temu duga kerja",
            "kenduri kahwin",
            "pemeriksaan kesihatan",
        ],
        "person": ["aisyah", "ahmad", "nurul", "hafiz", "farah", "amir"],
        "list_name": [
            "senarai beli-belah",
            "senarai tugasan",
            "senarai hadiah",
            "senarai barang percutian",
            "senarai bacaan",
            "senarai hajat",
        ],
        "item": ["susu", "telur", "roti", "pisang", "kopi", "tisu dapur", "bateri"],
        "currency_name": ["dolar amerika", "euro", "yen", "ringgit", "rupiah", "dolar singapura"],
        "food_type": ["piza", "sushi", "nasi lemak", "satay", "roti canai", "nasi kandar", "ayam goreng"],
        "business_name": [
            "restoran mamak ali",
            "piza house",
            "satay kajang",
            "nasi kandar pelita",
            "warung mak cik",
        ],
        "order_type": ["bungkus", "dihantar ke rumah"],
        "joke_type": ["lucu", "pendek", "hambar", "kelakar", "mengarut", "klasik", "lama", "baru"],
        "topic": ["kucing", "komputer", "bola sepak", "doktor", "cikgu", "cuaca", "kereta"],
    },
}

# Locale code -> (language family, data).  MASSIVE locale codes.
LOCALES: dict[str, tuple[str, dict]] = {
    "en-US": ("Germanic", EN_US),
    "de-DE": ("Germanic", DE_DE),
    "nl-NL": ("Germanic", NL_NL),
    "af-ZA": ("Germanic", AF_ZA),
    "es-ES": ("Romance", ES_ES),
    "pt-PT": ("Romance", PT_PT),
    "it-IT": ("Romance", IT_IT),
    "fr-FR": ("Romance", FR_FR),
    "id-ID": ("Austronesian", ID_ID),
    "ms-MY": ("Austronesian", MS_MY),
}

# ---------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------


def shared_sequence(seed: int = SEED) -> list[dict]:
    """The locale-independent plan: one entry per example id, realised identically in every locale."""
    rng = random.Random(seed)
    plan = []
    for intent in INTENTS:
        parts = [p for p in PARTITIONS for _ in range(SPLIT_SIZES[p])]
        template_choices = list(range(PER_INTENT))
        rng.shuffle(template_choices)  # spreads each intent's examples evenly over its templates
        for partition, t_choice in zip(parts, template_choices):
            slots = {key: rng.randrange(1_000_000) for key in SLOT_KEYS}
            plan.append({"intent": intent, "partition": partition, "template": t_choice, "slots": slots})
    rng.shuffle(plan)
    for i, entry in enumerate(plan):
        entry["id"] = str(i)
    return plan


def realise(
    template: str, values: dict[str, list[str]], choices: dict[str, int], shift: int
) -> tuple[str, str]:
    """Fill a template; returns (utt, annot_utt).

    ``shift`` walks through the slot-value combinations like a mixed-radix counter (first slot
    fastest), so successive shifts give distinct fillings.  A slot used twice in one template (two
    currencies) gets consecutive, hence distinct, values.
    """
    used: Counter[str] = Counter()
    offsets: dict[str, int] = {}
    radix = 1
    utt_parts: list[str] = []
    annot_parts: list[str] = []
    pos = 0
    for match in PLACEHOLDER.finditer(template):
        name = match.group(1)
        options = values[name]
        if name not in offsets:
            offsets[name] = shift // radix
            radix *= len(options)
        value = options[(choices[name] + offsets[name] + used[name]) % len(options)]
        used[name] += 1
        label = SLOT_LABEL.get(name, name)
        literal = template[pos : match.start()]
        utt_parts += [literal, value]
        annot_parts += [literal, value if label is None else f"[{label} : {value}]"]
        pos = match.end()
    utt_parts.append(template[pos:])
    annot_parts.append(template[pos:])
    return " ".join("".join(utt_parts).split()), " ".join("".join(annot_parts).split())


def build_locale(locale: str, data: dict, plan: list[dict]) -> dict[str, list[dict]]:
    """Realise the shared plan in one locale; returns partition -> rows sorted by id."""
    templates, values = data["templates"], data["slots"]
    seen: dict[str, set[str]] = {p: set() for p in PARTITIONS}
    # Train first, then dev, then test: eval utterances avoid train (and test avoids dev) utterances.
    avoid = {"train": (), "dev": ("train",), "test": ("train", "dev")}
    rows: dict[str, list[dict]] = {p: [] for p in PARTITIONS}
    order = sorted(plan, key=lambda e: (PARTITIONS.index(e["partition"]), int(e["id"])))
    for entry in order:
        options = templates[entry["intent"]]
        part = entry["partition"]
        # Prefer an utterance not yet used anywhere in this locale; if the intent has run out of fresh
        # ones, accept a repeat within the split, but never one that would leak from train into dev/test.
        for strict, limit in ((True, PREFER_UNIQUE_ATTEMPTS), (False, 1000)):
            blocked = PARTITIONS if strict else avoid[part]
            for attempt in range(limit):
                template = options[(entry["template"] + attempt // 4) % len(options)]
                utt, annot = realise(template, values, entry["slots"], attempt)
                if not any(utt in seen[other] for other in blocked):
                    break
            else:
                continue
            break
        else:  # pragma: no cover - would mean a locale has far too few distinct utterances
            raise RuntimeError(f"{locale}: cannot find a fresh utterance for id {entry['id']}")
        seen[part].add(utt)
        rows[part].append(
            {
                "id": entry["id"],
                "locale": locale,
                "partition": part,
                "scenario": entry["intent"].split("_", 1)[0],
                "intent": entry["intent"],
                "utt": utt,
                "annot_utt": annot,
            }
        )
    for part in PARTITIONS:
        rows[part].sort(key=lambda r: int(r["id"]))
    return rows


def validate_data() -> list[str]:
    """Sanity checks on the authored data (template counts, slot coverage, lower case)."""
    problems = []
    for locale, (_family, data) in LOCALES.items():
        templates, values = data["templates"], data["slots"]
        if set(templates) != set(INTENTS):
            problems.append(f"{locale}: intents differ from INTENTS")
        for intent, options in templates.items():
            if len(set(options)) < MIN_TEMPLATES or len(set(options)) != len(options):
                problems.append(f"{locale}/{intent}: needs >= {MIN_TEMPLATES} distinct templates")
            for template in options:
                for name in PLACEHOLDER.findall(template):
                    if name not in SLOT_KEYS or name not in values:
                        problems.append(f"{locale}/{intent}: unknown slot {{{name}}} in {template!r}")
                if template != template.lower():
                    problems.append(f"{locale}/{intent}: template not lower case: {template!r}")
        for name, options in values.items():
            if len(set(options)) != len(options) or len(options) < 2:
                problems.append(f"{locale}: slot {name} needs >= 2 distinct values")
            if any(v != v.lower() or "[" in v or "]" in v for v in options):
                problems.append(f"{locale}: slot {name} has upper-case or bracketed values")
    return problems


def render(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def build_all() -> dict[Path, str]:
    """Every corpus file (relative path -> text) the script writes."""
    problems = validate_data()
    if problems:
        raise SystemExit("invalid corpus data:\n  " + "\n  ".join(problems))
    plan = shared_sequence()
    files = {}
    for locale, (_family, data) in LOCALES.items():
        rows = build_locale(locale, data, plan)
        for part in PARTITIONS:
            files[OUT_DIR / locale / f"{part}.jsonl"] = render(rows[part])
    return files


def check(root: Path) -> list[str]:
    """Compare the files on disk with a fresh build and check the corpus structure."""
    problems = []
    expected = build_all()
    for rel, text in expected.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"differs from a fresh build: {rel}")
    on_disk = {p.relative_to(root) for p in (root / OUT_DIR).glob("*/*.jsonl")}
    problems += [f"unexpected file: {rel}" for rel in sorted(on_disk - set(expected))]

    reference: dict[str, tuple[str, str]] | None = None
    keys = ["id", "locale", "partition", "scenario", "intent", "utt", "annot_utt"]
    for locale in LOCALES:
        mapping: dict[str, tuple[str, str]] = {}
        counts: Counter[tuple[str, str]] = Counter()
        for part in PARTITIONS:
            path = root / OUT_DIR / locale / f"{part}.jsonl"
            if not path.is_file():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                if list(row) != keys or row["partition"] != part or row["locale"] != locale:
                    problems.append(f"{locale}/{part}: malformed row {row.get('id')}")
                mapping[row["id"]] = (row["intent"], row["partition"])
                counts[row["intent"], row["partition"]] += 1
        for intent in INTENTS:
            for part, size in SPLIT_SIZES.items():
                if counts[intent, part] != size:
                    problems.append(
                        f"{locale}: {intent}/{part} has {counts[intent, part]} rows, expected {size}"
                    )
        if reference is None:
            reference = mapping
        elif mapping != reference:
            problems.append(f"{locale}: id -> intent/partition mapping differs from {next(iter(LOCALES))}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="verify the written files instead of writing them"
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: current dir)")
    args = parser.parse_args(argv)

    if args.check:
        problems = check(args.root)
        if problems:
            print("builtin corpus check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        print(f"builtin corpus OK: {len(LOCALES)} locales x {len(INTENTS)} intents x {SPLIT_SIZES}")
        return 0

    for rel, text in build_all().items():
        path = args.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {len(LOCALES) * len(PARTITIONS)} files under {args.root / OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
