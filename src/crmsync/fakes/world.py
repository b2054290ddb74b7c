"""A deterministic, CRM-neutral sample of business data that both fake CRMs are seeded from.

The same seed and sizes always give the same world, so tests can compare what a fake serves with
what was generated. Each kind of record draws from its own random stream: changing the number of
tasks does not change the contacts.

The data is deliberately messy where real CRM data is messy: phones in many formats (with and
without country code, with extensions, with spaces and brackets), e-mails with capitals and
stray spaces, Cyrillic and Latin names, sparse custom fields, and many records that share one
modification second (including a bulk-import block larger than a page) so that incremental readers
meet ties at page boundaries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

EPOCH = 1767225600  # 2026-01-01T00:00:00Z: seeded timestamps lie in the year before it
YEAR = 365 * 24 * 3600
IMPORT_BLOCK = 300  # records sharing one updated_at second, when the world is big enough

RU_MALE_FIRST = ["Иван", "Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Никита", "Павел", "Артём", "Олег"]
RU_FEMALE_FIRST = ["Анна", "Мария", "Екатерина", "Ольга", "Наталья", "Елена", "Татьяна", "Юлия", "Ксения", "Дарья"]
RU_LAST = ["Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов",
           "Волков", "Фёдоров"]
RU_PATRONYMIC_M = ["Иванович", "Петрович", "Сергеевич", "Андреевич", "Олегович"]
RU_PATRONYMIC_F = ["Ивановна", "Петровна", "Сергеевна", "Андреевна", "Олеговна"]
EN_FIRST = ["John", "Emily", "Michael", "Sarah", "David", "Laura", "James", "Olivia", "Robert", "Sophie", "Chris"]
EN_LAST = ["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Clark", "O'Neil", "García", "Müller"]
COMPANIES = ["ООО «Ромашка»", "АО «Вектор»", "ИП Сидоров А. В.", "ООО «Технопарк»", "Acme Corp", "Globex LLC",
             "Initech", "ООО «СтройМастер»", "Umbrella Ltd", "ЗАО «Север»", "Northwind Traders", "ООО «Альфа-Логистик»"]
POSITIONS = ["Директор", "Менеджер по закупкам", "Главный бухгалтер", "Руководитель отдела продаж", "CTO",
             "Head of Sales", "Office manager", "Маркетолог", "Procurement lead", None]
EMAIL_DOMAINS = ["mail.ru", "yandex.ru", "gmail.com", "example.com", "corp.example.org", "bk.ru"]
TRANSLIT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya", "'": "", "í": "i", "á": "a", "ü": "u",
})
USERS = [("Алексей", "Громов", "Руководитель отдела продаж"), ("Marina", "Kowalski", "Account manager"),
         ("Сергей", "Белов", "Менеджер"), ("Ольга", "Ким", "Менеджер"), ("Tom", "Fischer", "Sales engineer")]

# Custom fields, neutral: (key, type, options). Each fake gives them its own ids, codes and enum ids.
CONTACT_FIELDS: list[tuple[str, str, list[str] | None]] = [
    ("source", "select", ["Сайт", "Рекомендация", "Выставка", "Cold call"]),
    ("interests", "multiselect", ["CRM", "Analytics", "Support", "Training"]),
    ("birthday", "date", None),
    ("budget", "numeric", None),
    ("notes", "text", None),
]
DEAL_FIELDS: list[tuple[str, str, list[str] | None]] = [
    ("product", "select", ["Basic", "Pro", "Enterprise"]),
    ("probability", "numeric", None),
    ("contract_date", "date", None),
    ("channels", "multiselect", ["Email", "Phone", "Telegram", "WhatsApp"]),
    ("comment", "text", None),
]
FIELD_TITLES = {
    "source": "Источник", "interests": "Интересы", "birthday": "День рождения", "budget": "Бюджет",
    "notes": "Заметки", "product": "Продукт", "probability": "Вероятность, %", "contract_date": "Дата договора",
    "channels": "Каналы связи", "comment": "Комментарий",
}

# Two pipelines; stage keys are neutral, each fake maps them to its own ids/codes.
PIPELINES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Продажи", [("new", "Новая заявка"), ("qualified", "Квалификация"), ("proposal", "КП отправлено"),
                 ("negotiation", "Переговоры"), ("won", "Успешно реализовано"), ("lost", "Закрыто и не реализовано")]),
    ("Partners", [("new", "Incoming"), ("contract", "Contract"), ("won", "Won"), ("lost", "Lost")]),
]
TASK_TYPES = [("call", "Звонок"), ("meeting", "Встреча"), ("email", "Письмо")]
DEAL_TOPICS = ["Поставка", "Внедрение CRM", "License renewal", "Консалтинг", "Support plan"]
TASK_TEXTS = ["Перезвонить клиенту", "Назначить встречу", "Отправить коммерческое предложение", "Follow up on invoice",
              "Prepare contract draft", "Уточнить реквизиты", "Demo call", "Подписать договор"]


@dataclass
class Phone:
    value: str  # as a person typed it
    kind: str   # WORK, MOBILE, HOME, FAX, OTHER


@dataclass
class Email:
    value: str
    kind: str   # WORK, PRIVATE, OTHER


@dataclass
class User:
    index: int
    first_name: str
    last_name: str
    email: str
    position: str


@dataclass
class Contact:
    index: int
    first_name: str
    last_name: str
    middle_name: str
    phones: list[Phone]
    emails: list[Email]
    company: int | None
    position: str | None
    owner: int
    created_at: int
    updated_at: int
    custom: dict[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class Deal:
    index: int
    title: str
    amount: float
    currency: str
    pipeline: int
    stage: str
    contacts: list[int]
    company: int | None
    owner: int
    created_at: int
    updated_at: int
    closed_at: int | None
    custom: dict[str, object] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.stage if self.stage in ("won", "lost") else "open"


@dataclass
class Task:
    index: int
    text: str
    description: str
    task_type: str
    due_at: int
    completed: bool
    completed_at: int | None
    result: str | None
    owner: int
    related: tuple[str, int] | None  # ("contact"|"deal", index)
    created_at: int
    updated_at: int


@dataclass
class World:
    users: list[User]
    companies: list[str]
    contacts: list[Contact]
    deals: list[Deal]
    tasks: list[Task]


def build_world(seed: int = 42, contacts: int = 60, deals: int = 40, tasks: int = 50) -> World:
    users = [User(i, f, last, f"{_slug(f)}.{_slug(last)}@crm-team.example", pos)
             for i, (f, last, pos) in enumerate(USERS)]
    cs = _contacts(random.Random(f"{seed}:contacts"), contacts, len(users))
    ds = _deals(random.Random(f"{seed}:deals"), deals, cs, len(users))
    ts = _tasks(random.Random(f"{seed}:tasks"), tasks, len(cs), len(ds), len(users))
    return World(users=users, companies=list(COMPANIES), contacts=cs, deals=ds, tasks=ts)


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower().translate(TRANSLIT) if ch.isalnum())


def _timestamps(rng: random.Random, n: int) -> list[tuple[int, int]]:
    """(created_at, updated_at) pairs in the year before EPOCH with realistic ties."""
    span = max(3600, n * 20)
    out = []
    for _ in range(n):
        created = EPOCH - YEAR + rng.randrange(YEAR - span)
        updated = min(EPOCH - 1, created + rng.randrange(span))
        out.append((created, updated))
    if n >= 2 * IMPORT_BLOCK:  # a bulk import: more rows than a page share one second
        start = rng.randrange(n - IMPORT_BLOCK)
        stamp = EPOCH - span // 2
        for i in range(start, start + IMPORT_BLOCK):
            out[i] = (min(out[i][0], stamp), stamp)
    return out


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.75:  # Russian numbers, in the forms people actually type
        code = rng.choice(["916", "903", "926", "495", "812", "985", "999"])
        a, b, c = rng.randrange(100, 1000), rng.randrange(10, 100), rng.randrange(10, 100)
        return rng.choice([
            f"+7 ({code}) {a}-{b:02d}-{c:02d}", f"8 {code} {a} {b:02d} {c:02d}", f"8{code}{a}{b:02d}{c:02d}",
            f"+7{code}{a}{b:02d}{c:02d}", f"+7-{code}-{a}-{b:02d}-{c:02d}", f"{code} {a}-{b:02d}-{c:02d}",
            f"8 ({code}) {a}{b:02d}{c:02d} доб. {rng.randrange(100, 1000)}", f" +7 {code} {a} {b:02d}{c:02d} ",
        ])
    return rng.choice([
        f"+1 (415) 555-{rng.randrange(1000, 10000)}", f"+44 20 7946 {rng.randrange(1000, 10000)}",
        f"+49 30 {rng.randrange(100000, 1000000)}", f"(212) 555-{rng.randrange(1000, 10000)}",
        f"+375 29 {rng.randrange(100, 1000)}-{rng.randrange(10, 100)}-{rng.randrange(10, 100)}",
    ])


def _email(rng: random.Random, first: str, last: str) -> str:
    local = rng.choice([f"{_slug(first)}.{_slug(last)}", f"{_slug(first)[:1]}{_slug(last)}",
                        f"{_slug(last)}{rng.randrange(1, 99)}"]) or "info"
    value = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
    roll = rng.random()
    if roll < 0.15:
        value = value.title()
    elif roll < 0.2:
        value = f" {value.upper()} "
    return value


def _custom(rng: random.Random, spec: list[tuple[str, str, list[str] | None]], anchor: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, kind, options in spec:
        if rng.random() < 0.4:
            continue
        if kind == "select":
            out[key] = rng.choice(options or [])
        elif kind == "multiselect":
            out[key] = sorted(rng.sample(options or [], rng.randrange(1, 3)), key=(options or []).index)
        elif kind == "date":
            out[key] = (anchor - rng.randrange(YEAR * 40)) // 86400 * 86400  # midnight UTC
        elif kind == "numeric":
            out[key] = rng.choice([rng.randrange(0, 101), rng.randrange(1, 500) * 1000])
        else:
            out[key] = rng.choice(["Перезвонить после обеда", "VIP", "Needs invoice in USD", "Постоянный клиент",
                                   "Line one\nline two"])
    return out


def _contacts(rng: random.Random, n: int, n_users: int) -> list[Contact]:
    out = []
    for i, (created, updated) in enumerate(_timestamps(rng, n)):
        if rng.random() < 0.65:
            female = rng.random() < 0.5
            first = rng.choice(RU_FEMALE_FIRST if female else RU_MALE_FIRST)
            last = rng.choice(RU_LAST) + ("а" if female else "")
            middle = rng.choice(RU_PATRONYMIC_F if female else RU_PATRONYMIC_M) if rng.random() < 0.5 else ""
        else:
            first, last, middle = rng.choice(EN_FIRST), rng.choice(EN_LAST), ""
        phones = [Phone(_phone(rng), rng.choice(["WORK", "MOBILE", "MOBILE", "HOME", "OTHER"]))
                  for _ in range(rng.choice([0, 1, 1, 1, 2, 3]))]
        emails = [Email(_email(rng, first, last), rng.choice(["WORK", "WORK", "PRIVATE", "OTHER"]))
                  for _ in range(rng.choice([0, 1, 1, 2]))]
        out.append(Contact(
            index=i, first_name=first, last_name=last, middle_name=middle, phones=phones, emails=emails,
            company=rng.randrange(len(COMPANIES)) if rng.random() < 0.7 else None,
            position=rng.choice(POSITIONS), owner=rng.randrange(n_users),
            created_at=created, updated_at=updated, custom=_custom(rng, CONTACT_FIELDS, created),
        ))
    return out


def _deals(rng: random.Random, n: int, contacts: list[Contact], n_users: int) -> list[Deal]:
    out = []
    for i, (created, updated) in enumerate(_timestamps(rng, n)):
        pipeline = 0 if rng.random() < 0.7 else 1
        stage = rng.choice([key for key, _ in PIPELINES[pipeline][1]])
        currency = "RUB" if rng.random() < 0.75 else "USD"
        amount = rng.randrange(5, 5000) * (1000 if currency == "RUB" else 10)
        linked = sorted(rng.sample(range(len(contacts)), min(len(contacts), rng.choice([1, 1, 2, 3])))) \
            if contacts and rng.random() < 0.9 else []
        company = contacts[linked[0]].company if linked else None
        who = contacts[linked[0]].name if linked else rng.choice(COMPANIES)
        out.append(Deal(
            index=i, title=f"{rng.choice(DEAL_TOPICS)} — {who}",
            amount=float(amount), currency=currency, pipeline=pipeline, stage=stage, contacts=linked,
            company=company, owner=rng.randrange(n_users), created_at=created, updated_at=updated,
            closed_at=updated if stage in ("won", "lost") else None, custom=_custom(rng, DEAL_FIELDS, created),
        ))
    return out


def _tasks(rng: random.Random, n: int, n_contacts: int, n_deals: int, n_users: int) -> list[Task]:
    out = []
    for i, (created, updated) in enumerate(_timestamps(rng, n)):
        roll = rng.random()
        related: tuple[str, int] | None
        if roll < 0.45 and n_deals:
            related = ("deal", rng.randrange(n_deals))
        elif roll < 0.9 and n_contacts:
            related = ("contact", rng.randrange(n_contacts))
        else:
            related = None
        completed = rng.random() < 0.35
        due = created + rng.randrange(3600, 30 * 86400)
        out.append(Task(
            index=i, text=rng.choice(TASK_TEXTS),
            description=rng.choice(["", "Подробности в карточке", "Agenda: pricing"]),
            task_type=rng.choice([k for k, _ in TASK_TYPES]), due_at=due, completed=completed,
            completed_at=updated if completed else None,
            result=rng.choice(["Клиент согласен", "Done", None]) if completed else None,
            owner=rng.randrange(n_users), related=related, created_at=created, updated_at=updated,
        ))
    return out
