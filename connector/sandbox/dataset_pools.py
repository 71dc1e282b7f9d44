"""Word pools and fixed vocabularies for the synthetic world.

Kept apart from the generator so the generator reads as "how signals follow health", not as lists of
words.  Pools are tuples (immutable, shared): the generator indexes them with numpy integer arrays, so
the cost per record is one list lookup rather than a random call.
"""

from __future__ import annotations

NAME_HEADS: tuple[str, ...] = (
    "Acorn", "Aldervale", "Amberline", "Apex", "Arbor", "Ashgrove", "Aurora", "Basalt", "Beacon", "Birch",
    "Blue Fjord", "Bramble", "Brightwater", "Cedar", "Cinder", "Clearpath", "Cobalt", "Copperleaf", "Crescent",
    "Driftwood", "Eastgate", "Ember", "Evergreen", "Fairwind", "Fernhill", "Flint", "Foxglove", "Granite",
    "Greyhawk", "Harbor", "Hawthorn", "Helix", "Highmark", "Ironbridge", "Juniper", "Keystone", "Lakeshore",
    "Larkspur", "Lumen", "Maple", "Meridian", "Millbrook", "Moss", "Northwind", "Oakridge", "Onyx", "Orchard",
    "Pinecrest", "Polaris", "Quarry", "Quill", "Redwood", "Ridgeway", "Riverbend", "Saffron", "Sagebrush",
    "Silverline", "Slate", "Southport", "Stonefield", "Summit", "Tamarack", "Thistle", "Timber", "Trillium",
    "Umber", "Vantage", "Verdant", "Westbrook", "Willow", "Windmere", "Yarrow", "Zephyr",
)
NAME_TAILS: tuple[str, ...] = (
    "Analytics", "Bio", "Capital", "Cloud", "Consulting", "Data", "Design", "Dynamics", "Energy", "Foods",
    "Freight", "Health", "Holdings", "Industries", "Insights", "Labs", "Learning", "Logistics", "Manufacturing",
    "Media", "Medical", "Networks", "Partners", "Pharma", "Retail", "Robotics", "Security", "Software",
    "Solutions", "Systems", "Technologies", "Telecom", "Travel", "Ventures", "Works",
)
NAME_SUFFIXES: tuple[str, ...] = ("Inc", "LLC", "Ltd", "GmbH", "Corp", "BV", "AB", "SA", "Co", "")
TLDS: tuple[str, ...] = ("com", "com", "com", "io", "co", "net", "de", "co.uk", "fr", "nl")

FIRST_NAMES: tuple[str, ...] = (
    "Ada", "Aiden", "Amara", "Ana", "Ben", "Bianca", "Carlos", "Chen", "Chloe", "Daniel", "Dara", "Elena",
    "Emeka", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Isaac", "Jana", "Jonas", "Kai",
    "Kenji", "Lara", "Leo", "Lina", "Lucas", "Maya", "Mateo", "Mei", "Nadia", "Noah", "Olga", "Omar",
    "Priya", "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Tom", "Uma", "Victor", "Wen", "Yara", "Zoe",
)
LAST_NAMES: tuple[str, ...] = (
    "Adams", "Ahmed", "Alvarez", "Berg", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Gupta",
    "Hansen", "Ito", "Jensen", "Kim", "Kowalski", "Larsen", "Lee", "Lopez", "Mbeki", "Meyer", "Moreau",
    "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Peters", "Rossi", "Santos", "Schmidt",
    "Silva", "Smith", "Tanaka", "Torres", "Varga", "Walker", "Wang", "Weber", "Williams", "Yilmaz", "Zhang",
)

SEGMENTS: tuple[str, ...] = ("Enterprise", "Mid-Market", "SMB")

CHURN_REASONS: tuple[str, ...] = (
    "Budget cut", "Switched to competitor", "Acquired by another company", "Never reached first value",
    "Champion left", "Product gaps", "Bankruptcy",
)

# (subject, topic tag); the tag is what a Zendesk trigger would have set.
TICKET_TOPICS: tuple[tuple[str, str], ...] = (
    ("Cannot log in after password reset", "login"),
    ("SSO configuration question", "sso"),
    ("Export to CSV times out", "export"),
    ("How do I add more seats?", "billing"),
    ("Invoice shows wrong amount", "billing"),
    ("Dashboard not loading", "bug"),
    ("API returns 500 on bulk update", "api"),
    ("Feature request: custom fields", "feature_request"),
    ("Integration with CRM stopped syncing", "integration"),
    ("Onboarding: how to import data", "onboarding"),
    ("Data looks wrong in weekly report", "data_quality"),
    ("Slow performance in the afternoon", "performance"),
    ("Need training for new team members", "training"),
    ("Webhook deliveries failing", "api"),
    ("Question about renewal terms", "renewal"),
)
TICKET_PRIORITIES: tuple[str | None, ...] = ("low", "normal", "high", "urgent", None)

CARD_BRANDS: tuple[str, ...] = ("visa", "visa", "mastercard", "mastercard", "amex", "discover")

COMPETITORS: tuple[str, ...] = ("RivalCS", "ChurnGuard", "PulseMetrics", "HealthDeck")
OWN_TECHNOLOGY = "Acme Success Widget"
# (name, tag): what a BuiltWith/Datanyze-style lookup reports that says nothing about Customer Success.
NEUTRAL_TECH: tuple[tuple[str, str], ...] = (
    ("Google Analytics", "analytics"), ("Google Tag Manager", "tag-manager"), ("Segment", "analytics"),
    ("Hotjar", "analytics"), ("Cloudflare", "cdn"), ("Fastly", "cdn"), ("Intercom", "chat"),
    ("Drift", "chat"), ("HubSpot Tracking", "marketing-automation"), ("Marketo", "marketing-automation"),
    ("React", "javascript-framework"), ("WordPress", "cms"), ("Stripe.js", "payments"),
    ("Optimizely", "ab-testing"),
)
CS_TAG = "customer-success"

FREEMAIL_DOMAINS: tuple[str, ...] = ("gmail.com", "yahoo.com", "outlook.com", "gmx.de")

# Deliberately awkward names: each exercises a different escaping / encoding path in the connectors.
UNICODE_NAMES: tuple[str, ...] = (
    "Zürich Ünïcode GmbH", "株式会社サクラ技研", "北京云启科技有限公司", "Café Olé 🚀 Labs",
    "Ωmega Σystems ΑΕ", "Łódź Żółw Sp. z o.o.", "Straße & Söhne KG", "Ñandú Diseño S.A.",
    "서울 데이터 주식회사", "Emoji 😀🔥 Analytics", "Reykjavík Þróun ehf", "İstanbul Çözüm A.Ş.",
)
HTML_NAME = "<script>alert(1)</script> Ltd"
SOQL_NAMES: tuple[str, ...] = ("O'Reilly \\ Sons", "100% _Wild_ Cards Inc", "Smith's \"Quoted\" & Co")
