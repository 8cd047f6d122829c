"""Build a demo product catalog from the real "Online Retail" transaction data.

The data set (UCI Machine Learning Repository, Daqing Chen, Sai Liang Sain and Kun Guo, 2012,
licensed CC BY 4.0) lists invoice lines of a UK online gift retailer. This module turns it into
product drafts in the shape the catalog API accepts for creating a product, plus a deterministic
``product_id``:

    {"product_id": "p-84997", "name": "Childrens Cutlery", "description": "...",
     "category": "kitchen-and-dining", "images": [],
     "variants": [{"sku": "84997A", "attributes": {"style": "Polkadot Green"},
                   "price": {"amount": 415, "currency": "GBP"}}, ...]}

Only the standard library is used, and the whole file is read in a single streaming pass.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Final

__all__ = [
    "CATEGORY_LABELS",
    "DEMO_DATA_PATH",
    "FALLBACK_CATEGORY",
    "build_demo_catalog",
    "derive_category",
]

# A copy ships in the repository (data/online-retail, CC BY 4.0, attribution in its README),
# so that a fresh clone runs the demo with no other checkout beside it.
_DEFAULT_DATA_PATH: Final = (
    Path(__file__).resolve().parents[2]
    / "data"
    / "online-retail"
    / "transactions-2010-12_2011-10.csv.gz"
)

#: Where the demo transactions live; ``SHOP_DEMO_DATA`` overrides the default location.
DEMO_DATA_PATH: Path = Path(os.environ.get("SHOP_DEMO_DATA") or _DEFAULT_DATA_PATH)

CURRENCY: Final = "GBP"
MAX_VARIANTS_PER_PRODUCT: Final = 40
MAX_NAME_LENGTH: Final = 200
MAX_DESCRIPTION_LENGTH: Final = 500
MIN_SHARED_WORDS: Final = 2

#: A product code is five digits, optionally followed by letters (85123A, 15056BL, 22423).
#: Codes are upper-cased first: the data holds lower-case duplicates such as ``85123a``.
_PRODUCT_CODE: Final = re.compile(r"[0-9]{5}[A-Z]*")

#: Codes shaped like product codes that are really services or vouchers.
_NON_PRODUCT_CODES: Final = frozenset(
    {
        "22016",  # "Dotcomgiftshop Gift Voucher £100.00"
        "23444",  # "Next Day Carriage"
        "23574",  # "PACKING CHARGE"
        "23702",  # "High Resolution Image"
    }
)

_WORD: Final = re.compile(r"[^\s,]+")
#: Words that join two others ("PINK & WHITE"): never the first word of a variant name.
_JOINERS: Final = frozenset({"&", "+", "AND", "OR", "-", "/"})
#: Words that cannot start or end a variant product name.
_CONNECTORS: Final = _JOINERS | {"W", "W/", "WITH", "OF", "IN", "ON", "FOR", "TO"}
_TITLE_SPLIT: Final = re.compile(r"([/\-+&(])")
_FIRST_LETTER: Final = re.compile(r"[a-z]")

_PENCE: Final = Decimal(100)
_ONE: Final = Decimal(1)

FALLBACK_CATEGORY: Final = "gifts"

#: Category slug -> human label (used in the generated product description).
CATEGORY_LABELS: Final[dict[str, str]] = {
    "christmas": "Christmas",
    "candles-and-lighting": "candles and lighting",
    "bags": "bags",
    "kitchen-and-dining": "kitchen and dining",
    "baking": "baking",
    "stationery-and-gift-wrap": "stationery and gift wrap",
    "home-decor": "home decor",
    "garden": "garden",
    "toys-and-games": "toys and games",
    "party": "party",
    "jewellery-and-accessories": "jewellery and accessories",
    "storage": "storage",
    "bathroom": "bathroom",
    "signs-and-plaques": "signs and plaques",
    FALLBACK_CATEGORY: "gifts",
}

_Rule = tuple[str, "re.Pattern[str]"]


def _rule(slug: str, *keywords: str) -> _Rule:
    """Compile keyword alternatives (regex fragments) into one whole-word pattern."""
    return slug, re.compile(r"(?<![A-Z0-9])(?:" + "|".join(keywords) + r")(?![A-Z0-9])")


_NOT_A_COLOUR: Final = r"(?! (?:BLUE|PINK|GREEN|BROWN|GREY|PURPLE|YELLOW|GOLD|WOOD))"

#: Keyword rules on the upper-cased description; the first match wins. Three tiers:
#: the Christmas theme, then specific phrases ("CAKE CASES", "TEA TOWEL", "KEY RING",
#: "T-LIGHT HOLDER"), then product nouns ("MUG", "BAG", "CANDLE"), and last weak hints
#: (themes and materials such as "PAPER", "GLASS", "HEART", "CHILDRENS").
_CATEGORY_RULES: Final[tuple[_Rule, ...]] = (
    # -- theme --
    _rule(
        "christmas",
        "CHRISTMAS",
        "XMAS",
        "ADVENT",
        "SANTA",
        "REINDEER",
        "SNOWFLAKES?",
        "SNOWMAN",
        "SNOWMEN",
        "NATIVITY",
        "BAUBLES?",
        "JINGLE BELLS?",
        "MISTLETOE",
        "YULETIDE",
        "TINSEL",
        "HOLLY",
    ),
    # -- specific phrases --
    _rule(
        "candles-and-lighting",
        "T-?LIGHT HOLDERS?",
        "TEA ?LIGHT HOLDERS?",
        "CANDLE ?HOLDERS?",
        "OIL BURNER",
        "LIGHT GARLAND",
        "FAIRY LIGHTS",
        "STRING LIGHTS",
        "NIGHT ?LIGHTS?",
        "LAMP ?SHADES?",
        "INCENSE",
    ),
    _rule(
        "signs-and-plaques",
        "DOOR ?SIGNS?",
        "(?:METAL|ENAMEL|WOODEN) SIGNS?",
        "(?:WALL )?PLAQUES?",
        "NUMBER TILE",
        "HOME SWEET HOME",
    ),
    _rule(
        "baking",
        "(?:CUP ?|FAIRY )?CAKE CASES",
        "PETIT FOUR CASES",
        "BAKING(?: CASES| SET)?",
        "BAKE",
        "CAKE (?:TINS?|MOULDS?|STANDS?)",
        "CAKESTANDS?",
        "(?:BISCUIT |COOKIE )?CUTTERS?",
        "MOULDS?",
        "ICING",
        "ROLLING PIN",
        "OVEN GLOVES?",
        "APRONS?",
        "MIXING BOWLS?",
        "MEASURING (?:SPOONS?|JUG|CUPS?)",
        "PIE DISH",
        "PUDDING BASIN",
    ),
    _rule(
        "stationery-and-gift-wrap",
        "GIFT BAGS?",
        "GIFT WRAPS?",
        "WRAPPING PAPER",
        "GIFT TAGS?",
        "TISSUE PAPER",
        "(?:GREETING|BIRTHDAY|BLANK) CARDS?",
        "PENCIL CASE",
        "PENCIL ERASERS?",
        "PHOTO ALBUM",
        "SCRAP ?BOOK",
        "NOTE ?BOOKS?",
        "EXERCISE BOOKS?",
        "CHALK ?BOARD",
        "MEMO ?BOARD",
        "WRITING SET",
        "STATIONERY",
    ),
    _rule(
        "kitchen-and-dining",
        "TEA TOWELS?",
        "LUNCH ?BOX(?:ES)?",
        "EGG CUPS?",
        "CHOPPING BOARD",
        "KITCHEN SCALES",
        "JAM JARS?",
        "STORAGE JAR",
        "BOTTLE OPENER",
        "TEA SET",
        "TEA ?CUPS?",
        "CUP (?:AND|&) SAUCER",
        "(?:TEA|COFFEE|SUGAR|BISCUIT) (?:CONTAINER|TIN|CANNISTER)",
        "NAPKIN RINGS?",
        "TABLE ?CLOTH",
        "TABLE RUN(?:NER)?",
        "TOAST ?RACK",
        "EGG COSY",
        "EGG WARMER",
        "PICNIC",
    ),
    _rule(
        "bathroom",
        "HOT WATER BOTTLE",
        "HOTTIE",
        "SOAP (?:DISH|HOLDER)",
        "WASHBAG",
        "TOILET",
        "BATHROOM",
        "SHOWER CAP",
        "FIRST AID",
        "BALM",
    ),
    _rule(
        "party",
        "PAPER NAPKINS",
        "NAPKINS?",
        "PAPER (?:CUPS|PLATES)",
        "PARTY BAGS?",
        "(?:BIRTHDAY|CAKE) CANDLES?",
        "COCKTAIL",
        "BUNTING",
        "BALLOONS?",
        "CONFETTI",
        "STRAWS",
        "BANNER",
        "PINATA",
        "CRACKERS?",
        "INVITES",
        "PENNANTS?",
        "ROSETTES?",
        "GRASS SKIRT",
        "SOMBRERO",
        "FANCY DRESS",
        "MASKS?",
        "TATTOOS",
        "HONEYCOMB",
        "PAPER CHAIN",
    ),
    _rule(
        "home-decor",
        "PHOTO ?FRAMES?",
        "PICTURE FRAMES?",
        "CUSHION COVERS?",
        "FILLER PAD",
        "WALL ART",
        "WALL MIRROR",
        "WALL CLOCK",
        "DOOR ?STOPS?",
        "DOOR ?MATS?",
        "(?:DRAWER|DOOR) ?KNOBS?",
        "COAT RACK",
        "BEAD CURTAIN",
        "CURTAIN",
        "ART(?:IFICIAL)? FLOWERS?",
        "EASTER",
        "FLYING DUCKS",
        "ASHTRAY",
    ),
    _rule(
        "storage",
        "TRINKET (?:BOX|BOXES|POT|TRAY|DISH)",
        "STORAGE",
        "KEY CABINET",
        "SHELVING",
        "CRATES?",
        "NESTING BOXES",
        "JEWELLERY BOX",
        "MAGAZINE RACK",
        "PEG BAG",
        "LAUNDRY",
        "SEWING BOX",
        "KNICK KNACK",
    ),
    _rule(
        "jewellery-and-accessories",
        "KEY ?RINGS?",
        "KEY-?CHAINS?",
        "KEY FOBS?",
        "GLASSES CASE",
        "HAIR ?(?:CLIPS?|SLIDES?|BANDS?|COMBS?|GRIPS?)",
        "HAIRCLIPS?",
        "EAR ?MUFFS?",
        "HEADPHONES",
        "CARD WALLET",
        "CARD HOLDER",
        "COMPACT MIRROR",
        "PASSPORT COVER",
        "VIPPASSPORT",
        "LUGGAGE TAGS?",
        "HAND WARMERS?",
        "UMBRELLA",
        "PARASOL",
        "SLIPPERS?",
        "SLIPPER SHOES",
    ),
    _rule(
        "bags",
        "LUNCH BAGS?",
        "JUMBO BAGS?",
        "JUMBO SHOPPER",
        "SHOPPING BAG",
        "SHOPPER",
        "CHARLOTTE BAG",
        "BACKPACK",
        "RUCKSACK",
        "HANDBAG",
        "TOTE",
        "BUM BAG",
        "BEACH BAG",
    ),
    _rule(
        "toys-and-games",
        "SOFT TOY",
        "PLAYING CARDS",
        "SNAP CARDS",
        "MARBLES",
        "JIGSAWS?",
        "SPINNING TOPS?",
        "SKIPPING ROPE",
        "ROCKING HORSE",
        "PLAYHOUSE",
        "FARM ANIMAL",
        "CREEPY CRAWL\\w*",
        "FLYING DISC",
        "NAUGHTS & CROSSES",
        "NOUGHTS",
        "SNAKES (?:&|AND) LADDERS",
        "KNITTING NANCY",
        "MAGIC DRAWING",
        "COLOURING",
        "PAINT SET",
        "TOYS?",
        "GAMES?",
    ),
    _rule(
        "garden",
        "BIRD ?FEEDERS?",
        "BIRD ?HOUSES?",
        "BIRD TABLE",
        "FEEDING STATION",
        "WATERING CAN",
        "HERB MARKERS?",
        "PLANT (?:POTS?|SPIKES?)",
        "FLOWER ?POTS?",
        "PLANTERS?",
        "SEEDS?",
        "HAMMOCK",
        "WINDMILL",
        "WINDSOCK",
        "SECATEURS",
        "SPIRIT LEVEL",
        "SCREWDRIVER",
        "TROWEL",
        "GNOME",
        "WIND ?CHIMES?",
        "POTTING",
        "KNEELING MAT",
        "KNEELER",
        "GARDEN (?:TOOLS?|SET)",
    ),
    # -- product nouns --
    _rule(
        "kitchen-and-dining",
        "MUGS?",
        "CUPS?",
        "SAUCERS?",
        "PLATES?",
        "PLATTERS?",
        "BOWLS?",
        "JUGS?",
        "TEAPOTS?",
        "CUTLERY",
        "SPOONS?",
        "FORKS?",
        "KNIVES",
        "PLACEMATS?",
        "PLACE MATS?",
        "COASTERS?",
        "TRAYS?",
        "TUMBLERS?",
        "BEAKERS?",
        "GLASSES",
        "WINE",
        "JARS?",
        "DOIL(?:E?Y|IES)",
        "DISH(?:ES)?",
        "PAN",
        "FRYING",
        "BREAD",
        "RECIPE",
        "KITCHEN",
        "CAFETIERE",
        "COLANDER",
        "SQUEEZER",
        "BISCUIT BARREL",
        "SUNDAE",
        "MILKSHAKE",
        "BOTTLES?",
        "FLASK",
        "CAKE STAND",
        "CHOPSTICKS",
    ),
    _rule(
        "candles-and-lighting",
        "T-?LIGHTS?",
        "TEA ?LIGHTS?",
        "CANDLES?",
        "CANDLESTICKS?",
        "LANTERNS?",
        "LAMPS?",
        "LIGHTS",
        "LIGHT" + _NOT_A_COLOUR,
        "VOTIVES?",
        "LED",
        "TORCH",
        "MATCHES",
        "DIFFUSER",
        "WAX",
        "CANDLEPOTS?",
        "FRAGRANCE OILS?",
    ),
    _rule(
        "stationery-and-gift-wrap",
        "WRAPS?",
        "CARDS?",
        "NOTEBOOKS?",
        "NOTEPADS?",
        "NOTELETS",
        "PENS?",
        "PENCILS?",
        "ERASERS?",
        "RUBBERS?",
        "STICKERS?",
        "ENVELOPES?",
        "TAGS?",
        "TISSUES?",
        "RIBBONS?",
        "JOURNALS?",
        "DIARY",
        "CALENDAR",
        "BOOKMARKS?",
        "CRAYONS",
        "SKETCH ?BOOK",
        "MEMO",
        "ALBUM",
        "POSTCARDS?",
        "TAPES?",
        "STAMPS?",
        "CHALK",
        "MARKERS?",
        "MAGNETS?",
        "PAPERWEIGHT",
        "P'WEIGHT",
        "SCISSORS?",
        "HOLE PUNCH",
        "RULER",
        "SHARPENER",
        "BOOKS?",
        "BOOKCOVER",
        "CLIPBOARD",
        "ORGANISER",
        "LETTER",
        "BLACKBOARD",
    ),
    _rule(
        "jewellery-and-accessories",
        "NECKLACES?",
        "NECKL\\S*",
        "BRACE?LETS?",
        "LARIAT",
        "EARRINGS?",
        "RINGS?",
        "BROOCH(?:ES)?",
        "BANGLES?",
        "PENDANTS?",
        "CHARMS?",
        "BEADS?",
        "DIAMANTE",
        "JEWELLERY",
        "TIARAS?",
        "PURSES?",
        "WALLETS?",
        "SCARF",
        "GLOVES?",
        "MITTENS",
        "SUNGLASSES",
        "HATS?",
        "BADGES?",
        "SOCKS?",
        "BELT",
        "CLUTCH",
        "PONCHO",
        "FAN",
        "HAIR",
        "CORSAGE",
    ),
    _rule("bags", "BAGS?", "SATCHEL", "HOLDALL"),
    _rule(
        "bathroom",
        "BATH",
        "SOAPS?",
        "SPONGE",
        "SHOWER",
        "FLANNEL",
        "TOWELS?",
        "TOILETRIES",
        "COSMETICS?",
        "PLASTERS",
        "MANICURE",
        "NAIL",
        "SCALES",
        "BALM",
        "LIP",
    ),
    _rule("signs-and-plaques", "SIGNS?", "BILLBOARD"),
    _rule(
        "toys-and-games",
        "PUZZLES?",
        "DOLLS?",
        "TEDDY",
        "BUBBLES",
        "KITES?",
        "DOMINO(?:E?S)",
        "LUDO",
        "BINGO",
        "CHESS",
        "SKITTLES",
        "RATTLE",
        "BALLS?",
        "BLOCKS",
        "PUPPETS?",
        "HARMONICA",
        "YO-?YO",
        "WHISTLE",
        "SLINKY",
        "ROBOT",
        "HELICOPTER",
        "RACING CAR",
        "TRAIN",
        "SPACEBOY",
        "DINOSAURS?",
        "NINJA",
        "PIRATE",
        "DRUM",
        "CLAY",
        "GLOW",
        "INFLATABLE",
        "WHEELBARROW",
        "SOLDIERS?",
        "SPORTING",
        "HEADS AND TAILS",
        "BUILDING BLOCKS?",
        "PIGGY BANK",
        "MONEY ?BOX",
        "MONSTERS?",
    ),
    _rule(
        "garden",
        "GARDEN",
        "PLANTS?",
        "POTS?",
        "TOOLS?",
        "GREENHOUSE",
        "TERRACOTTA",
        "TRELLIS",
        "BIRD BATH",
    ),
    _rule(
        "storage",
        "BOX(?:ES)?",
        "TINS?",
        "BASKETS?",
        "HAMPER",
        "CASES?",
        "DRAWERS?",
        "CABINET",
        "CHESTS?",
        "TRUNK",
        "BIN",
        "CADDY",
        "RACK",
        "TIDY",
        "HOLDERS?",
        "POUCH",
        "SHELF",
        "SHELVES",
        "TUBE",
        "PEGS?",
        "HOOKS?",
        "HANGERS?",
        "CUPBOARD",
        "SUITCASE",
        "CONTAINER",
        "CANNISTER",
        "BARREL",
        "BUCKET",
    ),
    _rule(
        "home-decor",
        "FRAMES?",
        "PHOTO",
        "CUSHIONS?",
        "CLOCKS?",
        "MIRRORS?",
        "VASES?",
        "DOORMAT",
        "WALL",
        "MATS?",
        "QUILT",
        "THROW",
        "BLANKET",
        "KNOBS?",
        "PICTURE",
        "CANVAS",
        "FIGURES?",
        "STATUE",
        "ORNAMENTS?",
        "DECORATIONS?",
        "DEC",
        "WREATHS?",
        "GARLAND",
        "MOBILE",
        "BIRDCAGE",
        "CHAIR",
        "STOOL",
        "POUFFE",
        "TABLE",
        "SCREEN",
        "RUG",
        "GLOBE",
        "LETTERS",
        "BUDDHA",
        "CHARGER",
        "BOOKENDS?",
        "PAPERWEIGHT",
    ),
    # -- weak hints: themes and materials --
    _rule("party", "PARTY", "BIRTHDAY", "FLAGS?", "DISCO"),
    _rule(
        "kitchen-and-dining",
        "SUGAR",
        "MILK",
        "GLASS",
        "CAKES?",
        "COOKIES?",
        "BISCUITS?",
        "SWEETS?",
        "CHOCOLATES?",
        "DINNER",
        "BREAKFAST",
        "PANTRY",
        "FOOD",
        "DRINKS?",
        "SPICE",
        "HERBS?",
        "JAM",
        "FRIDGE",
        "OVEN",
        "POPCORN",
        "ICE",
        "LUNCH",
        "EGGS?",
        "TEA",
        "COFFEE",
    ),
    _rule("stationery-and-gift-wrap", "PAPER", "PAD", "CRAFT", "SEWING", "KNITTING"),
    _rule(
        "toys-and-games",
        "CHILDRENS",
        "CHILDS",
        "CHILDREN",
        "KIDS",
        "BABY",
        "MAGIC",
        "FELTCRAFT",
        "ALPHABET",
        "ABC",
        "FUN",
        "PLAY",
    ),
    _rule(
        "home-decor",
        "HANGING",
        "HEARTS?",
        "STARS?",
        "BIRDS?",
        "FLOWERS?",
        "ROSES?",
        "FEATHERS?",
        "DECORATIVE",
        "ANTIQUE",
        "ZINC",
        "ENAMEL",
        "WOODEN",
        "WOOD",
        "CERAMIC",
        "HOME",
        "HOUSE",
        "COTTAGE",
        "RABBITS?",
        "BUNNY",
        "BUNNIES",
        "CHICKS?",
        "HENS?",
        "DUCKS?",
        "SHELLS?",
        "MUSHROOMS?",
        "TOADSTOOLS?",
        "BUTTERFL(?:Y|IES)",
        "CATS?",
        "DOGS?",
        "FELT",
        "METAL",
        "OWLS?",
        "ANGELS?",
        "CRYSTAL",
        "CHANDELIER",
    ),
)

_FALLBACK_LABEL: Final = CATEGORY_LABELS[FALLBACK_CATEGORY]


def derive_category(description: str) -> str:
    """Map a product description to a category slug using ordered keyword rules.

    Returns one of the keys of :data:`CATEGORY_LABELS`; ``"gifts"`` when no rule matches.
    """
    text = " ".join(description.upper().split())
    for slug, pattern in _CATEGORY_RULES:
        if pattern.search(text):
            return slug
    return FALLBACK_CATEGORY


@dataclass
class _CodeStats:
    """What one pass over the sales lines learns about a stock code."""

    latest_at: str = ""
    latest_prices: list[str] = field(default_factory=list)
    descriptions: Counter[str] = field(default_factory=Counter)


def _normalise_code(raw: str) -> str | None:
    code = raw.strip().upper()
    if _PRODUCT_CODE.fullmatch(code) and code not in _NON_PRODUCT_CODES:
        return code
    return None


def _scan(path: Path) -> dict[str, _CodeStats]:
    """Collect latest prices and descriptions for every product code, in one pass.

    The loop runs ~430k times and dominates the build time, so it keeps raw strings,
    allocates as little as it can per line (the file is nearly in time order: most lines
    start a new "latest" price) and defers Decimal parsing and text clean-up to the end.
    """
    codes: dict[str, str | None] = {}  # raw StockCode -> product code, or None if not one
    latest_at: dict[str, str] = {}
    latest_price: dict[str, str] = {}
    more_at_latest: dict[str, list[str]] = {}  # further prices on the latest timestamp
    descriptions: dict[str, dict[str, int]] = {}  # code -> raw description -> lines
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return {}
        col = {name.strip(): index for index, name in enumerate(header)}
        i_invoice, i_code, i_desc = col["InvoiceNo"], col["StockCode"], col["Description"]
        i_qty, i_date, i_price = col["Quantity"], col["InvoiceDate"], col["UnitPrice"]
        width = max(col.values()) + 1
        for row in reader:
            if len(row) < width:
                continue
            if row[i_invoice].lstrip()[:1] in ("C", "c", ""):
                continue  # cancellation (or no invoice at all)
            raw_code = row[i_code]
            if raw_code in codes:
                code = codes[raw_code]
            else:
                code = codes[raw_code] = _normalise_code(raw_code)
                if code is not None and code not in descriptions:
                    descriptions[code] = {}
            if code is None:
                continue
            price = row[i_price]
            try:
                if not (float(row[i_qty]) > 0 and float(price) > 0):  # also rejects NaN
                    continue
            except ValueError:
                continue  # unreadable number
            invoiced_at = row[i_date].strip()  # ISO "YYYY-MM-DD HH:MM:SS" sorts as text
            previous = latest_at.get(code, "")
            if invoiced_at > previous:
                latest_at[code] = invoiced_at
                latest_price[code] = price
                more_at_latest.pop(code, None)
            elif invoiced_at == previous:
                more_at_latest.setdefault(code, []).append(price)
            counts = descriptions[code]
            raw_description = row[i_desc]
            counts[raw_description] = counts.get(raw_description, 0) + 1
    stats: dict[str, _CodeStats] = {}
    for code, price in latest_price.items():
        entry = stats[code] = _CodeStats(latest_at[code], [price, *more_at_latest.get(code, ())])
        for raw_description, count in descriptions[code].items():
            description = " ".join(raw_description.split())
            if description:
                entry.descriptions[description] += count
    return stats


def _to_pence(price: Decimal) -> int:
    return int((price * _PENCE).quantize(_ONE, rounding=ROUND_HALF_UP))


def _latest_price(prices: list[str]) -> Decimal:
    """Most common price on the latest invoice time; ties go to the highest price.

    Returns NaN when none of the prices can be read (the code is then left out).
    """
    counts: Counter[Decimal] = Counter()
    for price in prices:
        try:
            counts[Decimal(price.strip())] += 1
        except InvalidOperation:
            continue  # float() accepted it, Decimal() does not: not a usable price
    if not counts:
        return Decimal("NaN")
    return max(counts.items(), key=lambda item: (item[1], item[0]))[0]


def _most_common(counter: Counter[str]) -> str:
    """Most common text; ties go to the alphabetically first, for determinism."""
    return min(counter.items(), key=lambda item: (-item[1], item[0]))[0]


def _title(text: str) -> str:
    """Title-case a catalog description ("SET/6 T-LIGHT" -> "Set/6 T-Light").

    Pieces holding digits ("3D", "A5", "45x45cm") are kept as written; apostrophes do not
    start a new word ("CHILDREN'S" -> "Children's").
    """
    words = []
    for word in text.split():
        pieces = []
        for piece in _TITLE_SPLIT.split(word):
            if any(char.isdigit() for char in piece):
                pieces.append(piece)
                continue
            lower = piece.lower()
            first = _FIRST_LETTER.search(lower)
            if first is not None:
                at = first.start()
                lower = lower[:at] + lower[at].upper() + lower[at + 1 :]
            pieces.append(lower)
        words.append("".join(pieces))
    return " ".join(words)


def _tidy(text: str) -> str:
    """Title-case and drop punctuation left dangling at either end ("CARD, " -> "Card")."""
    return _title(text).strip(" .,;:")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut[:limit].rstrip(" ,.;:-")


def _words(description: str) -> list[str]:
    return _WORD.findall(description.upper())


def _shared_words(descriptions: list[str]) -> list[str]:
    """Words of the first description that every description contains, in order."""
    word_sets = [set(_words(text)) for text in descriptions[1:]]
    shared = (word for word in _words(descriptions[0]) if all(word in s for s in word_sets))
    return list(dict.fromkeys(shared))


def _name_words(shared: list[str]) -> list[str]:
    """Shared words usable as a product name, without dangling connectors.

    A leading joiner takes the next word with it: for "PINK & WHITE BREAKFAST TRAY" and
    "BLUE & WHITE BREAKFAST TRAY" the name is "BREAKFAST TRAY" and "& WHITE" stays with
    the variants ("Pink & White", "Blue & White").
    """
    words = list(shared)
    while words and words[0] in _CONNECTORS:
        words = words[2:] if words[0] in _JOINERS else words[1:]
    while words and words[-1] in _CONNECTORS:
        words.pop()
    return words


def _strip_connectors(words: list[str]) -> list[str]:
    start, end = 0, len(words)
    while start < end and words[start] in _CONNECTORS:
        start += 1
    while end > start and words[end - 1] in _CONNECTORS:
        end -= 1
    return words[start:end]


def _product_description(name: str, category: str, variant_count: int) -> str:
    label = CATEGORY_LABELS.get(category, _FALLBACK_LABEL)
    text = f"{name}. Part of our {label} collection."
    if variant_count > 1:
        text += f" Available in {variant_count} styles."
    return _clip(text, MAX_DESCRIPTION_LENGTH)


@dataclass(frozen=True)
class _Item:
    code: str
    description: str
    amount: int


def _variant(item: _Item, attributes: dict[str, str]) -> dict[str, object]:
    return {
        "sku": item.code,
        "attributes": attributes,
        "price": {"amount": item.amount, "currency": CURRENCY},
    }


def _single_product(item: _Item) -> dict[str, object]:
    name = _clip(_tidy(item.description), MAX_NAME_LENGTH) or item.code
    category = derive_category(item.description)
    return {
        "product_id": f"p-{item.code.lower()}",
        "name": name,
        "description": _product_description(name, category, 1),
        "category": category,
        "images": [],
        "variants": [_variant(item, {})],
    }


def _variant_product(
    product_id: str, items: list[_Item], name_words: list[str]
) -> dict[str, object]:
    in_name = set(name_words)
    name = _clip(_tidy(" ".join(name_words)), MAX_NAME_LENGTH) or product_id
    category = derive_category(items[0].description)
    variants: list[dict[str, object]] = []
    used: set[str] = set()
    for item in items:
        words = _WORD.findall(item.description)
        rest = [word for word in words if word.upper() not in in_name]
        rest = _strip_connectors(rest)
        suffix = item.code[5:]
        style = _tidy(" ".join(rest)) or suffix or "Standard"
        if style in used:  # two codes with the same wording: tell them apart by code
            style = f"{style} ({item.code})"
        used.add(style)
        variants.append(_variant(item, {"style": _clip(style, MAX_NAME_LENGTH)}))
    return {
        "product_id": product_id,
        "name": name,
        "description": _product_description(name, category, len(variants)),
        "category": category,
        "images": [],
        "variants": variants,
    }


def _group_products(base: str, items: list[_Item]) -> list[dict[str, object]]:
    """Turn all codes sharing one 5-digit base into products (variants when they match)."""
    if len(items) > 1:
        shared = _name_words(_shared_words([item.description for item in items]))
        if len(shared) >= MIN_SHARED_WORDS:
            products = []
            for start in range(0, len(items), MAX_VARIANTS_PER_PRODUCT):
                chunk = items[start : start + MAX_VARIANTS_PER_PRODUCT]
                number = start // MAX_VARIANTS_PER_PRODUCT + 1
                product_id = f"p-{base}" if number == 1 else f"p-{base}-{number}"
                products.append(_variant_product(product_id, chunk, shared))
            return products
    return [_single_product(item) for item in items]


def build_demo_catalog(path: Path | None = None) -> list[dict[str, object]]:
    """Build product drafts from the transaction file, sorted by ``product_id``.

    Only sales lines count (no cancellations, positive quantity and price) and only
    product-shaped stock codes. Each code becomes one SKU priced at its latest unit price
    (in pence); codes sharing a 5-digit base whose descriptions share at least two words
    become variants of one product ``p-<base>``, the others products ``p-<code>``.
    """
    if path is None:
        override = os.environ.get("SHOP_DEMO_DATA")
        path = Path(override) if override else DEMO_DATA_PATH
    stats = _scan(Path(path))
    by_base: dict[str, list[_Item]] = defaultdict(list)
    for code in sorted(stats):
        entry = stats[code]
        if not entry.latest_prices:
            continue
        description = _most_common(entry.descriptions) if entry.descriptions else code
        price = _latest_price(entry.latest_prices)
        if not price.is_finite():
            continue
        amount = _to_pence(price)
        if amount <= 0:
            continue  # a price under half a penny cannot be sold
        by_base[code[:5]].append(_Item(code, description, amount))
    products: list[dict[str, object]] = []
    for base in sorted(by_base):
        products.extend(_group_products(base, by_base[base]))
    products.sort(key=lambda product: str(product["product_id"]))
    return products
