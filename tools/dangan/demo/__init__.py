"""`dangan demo`: a demo vault with two years of realistic, back-dated history.

The demo is a property-management company (蘇州安和物業服務有限公司) with a residential
project A01 (翠湖花園) and a commercial project B01 (星河廣場); `--size large` (the benchmark
vault of docs/performance.md: about 100,000 records, a fifth of them encrypted, ~400 commits) has
70 projects - residential A01-A40, commercial B01-B20, industrial C01-C05, public D01-D05 -
and files every room.

How it is built (fast, no CLI call per record):

* The generator is a small discrete-event simulation. Every business event (a room filed
  during onboarding, a repair reported, a complaint resolved, an elevator re-inspected) is
  a function scheduled at a timestamp; the events run in time order, so serials are
  allocated in the order the records were opened, and follow-ups (a repair job going from
  assigned to done to closed) are scheduled by the event that opened the record. Events
  that would fall on or after today are dropped: recent jobs stay open, as in real life.
* Every record is a plain dict, validated in plaintext against the vault's schemas before
  it is kept (an invalid record is a bug in this generator and stops the build; the large
  demo validates every 100th version and leaves the rest to `dangan check --all`).
* Owner files (YZ), tenant files (ZH) and complaints (TS) carry invented personal data
  (names like 王小明, mobiles 1xx-0000-nnnn, ID numbers of a county code nobody has). Such
  a record is sealed as a SOPS document for the category's recipients: a new data key per
  record, kept (with the unchanged ciphertext) when the record changes later. The demo has
  its own keys, generated per build: DEMO-KEY.txt (the archivist 張敏, both roles) and
  DEMO-KEY-approver.txt (the approver 李強), 0600, labelled, ignored by Git.
* The records of one period (a month for `small`, a week for `large`) are committed in
  up to two commits with back-dated author and committer dates: first the records opened
  in that period as they were when opened (`dangan new: ...`), then the changes made in
  that period (`dangan set: ...`); the large demo commits its residential estates apart
  from the other projects. The commits are streamed into one `git fast-import` (no index,
  no process per commit) and the work tree is checked out once at the end.
* A few stories run the real commands in the middle of the history, through the vault's
  hooks, with back-dated commits (demo/stories.py): the retention sweep, the inventory of
  an archive room, scans attached to their records (demo/scans.py draws them).
* Everything is derived from `random.Random(20241)` (and 20242 for the invented people)
  and the build date, so two builds on the same day write identical records but for the
  ciphertext and the keys.
"""
from __future__ import annotations

import copy
import datetime as dt
import heapq
import itertools
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.demo.history import (
    COMPANY,
    DEMO_APPROVER,
    DEMO_APPROVER_KEY,
    DEMO_ARCHIVIST,
    DEMO_KEY,
    TZ,
    _at,
    _d,
    _git_env,
    _History,
    _patched_env,
    _t,
)
from dangan.demo.people import _People, id_check_digit  # noqa: F401 (id_check_digit: tests, API)
from dangan.demo.practice import PracticeMixin
from dangan.demo.stories import StoriesMixin
from dangan.errors import DanganError
from dangan.formats import agekeys, sops
from dangan.formats.yamlio import dump, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model.codes import Code, Location, parse_code
from dangan.services import scan
from dangan.services.initvault import init_vault
from dangan.services.records import COMMON_ORDER
from dangan.store.sealing import Keyring, has_clear_sensitive
from dangan.store.vault import Vault

SEED = 20241
DAYS_OF_HISTORY = 730
ONBOARDING_DAYS = 24  # the archivist files the existing paper archives first
MESSAGE_LINES = 200  # a batch commit lists at most this many records in its message

COMPANY_CREDIT_CODE = "91320506MA1N7QK83F"
HQ_ARCHIVE = "安和物業總部檔案室"

# True in the copy of this package whose texts are in simplified characters (demo/simplified.py
# sets it when it loads the copy); the package as written is traditional
SIMPLIFIED = False

# The demo's own keys: written next to vault.yaml, ignored by Git, clearly labelled.
DEMO_KEY_LABEL = "# DEMO KEY for the dangan demo vault only - never use it for real records"
GITIGNORE = "# dangan demo: the demo keys and the reports it wrote stay out of Git\nDEMO-KEY*.txt\nreports/\n"

ELEVATOR_CO = "蘇州恒達電梯工程有限公司"
FIRE_CO = "蘇州安消消防工程有限公司"
WATER_CO = "蘇州清源水處理有限公司"
GREEN_CO = "蘇州綠洲園林綠化有限公司"
CLEAN_CO = "蘇州潔美保潔服務有限公司"
PEST_CO = "蘇州滅特有害生物防治有限公司"
HVAC_CO = "蘇州冷源機電工程有限公司"
POWER_CO = "蘇州華電電力試驗有限公司"
INSPECTION_BODY = "蘇州市特種設備檢驗檢測研究院"


@dataclass(frozen=True)
class Profile:
    residential: int  # residential projects A01, A02, ...
    commercial: int  # commercial projects B01, B02, ...
    buildings: int  # buildings per residential project
    units: int  # units per residential building
    floors: int  # floors of a residential building
    rooms: tuple[str, ...] | None  # rooms filed per unit; None: every room
    shop_floors: int  # floors of shops in a commercial building
    shops_per_floor: int
    owner_share: float  # share of residential rooms with an owner file (YZ)
    fee_share: float  # share of rooms with yearly fee records (SF)
    repairs: float  # private repair jobs per residential building and month
    common_repairs: float  # common-area repair jobs per project and month
    complaints: float  # complaints per project and month
    decorations: float  # decoration applications per project and month
    inspections: int  # fire inspection rounds per project and year
    period: str  # commit batches: "month" or "week"
    validate_every: int = 1  # validate every n-th record version against its schema
    industrial: int = 0  # industrial projects C01, C02, ...
    public: int = 0  # public projects D01, D02, ...
    buildings_range: tuple[int, int] | None = None  # buildings per residential project vary
    split_commits: bool = False  # residential (A) and other projects commit separately
    lease_share: float = 1.0  # share of let flats whose lease (ZH) is filed


PROFILES = {
    "small": Profile(
        residential=1, commercial=1, buildings=3, units=2, floors=18,
        rooms=("0301", "0401", "1102"), shop_floors=2, shops_per_floor=2,
        owner_share=0.4, fee_share=0.15, repairs=0.15, common_repairs=0.25,
        complaints=0.25, decorations=0.06, inspections=2, period="month",
    ),
    # the benchmark vault (docs/performance.md): about 100,000 records, a fifth of them encrypted
    "large": Profile(
        residential=40, commercial=20, buildings=8, units=2, floors=18,
        rooms=None, shop_floors=4, shops_per_floor=12,
        owner_share=0.55, fee_share=0.6, repairs=1.6, common_repairs=3.0,
        complaints=4.0, decorations=1.5, inspections=4, period="week",
        validate_every=100, industrial=5, public=5, buildings_range=(5, 11), split_commits=True,
        lease_share=0.5,
    ),
    # a company's whole archive (issue 26, `make bench-xl`): about 1,000,000 records, as many
    # projects as the codes allow of the residential kind (A01-A99), taller buildings with five
    # units, the large profile's rates of repairs, complaints and fees per room and building
    # (four units of 26 floors gave 771,932 records in 1,171 commits: 42 min, 4.6 GB at most)
    "xl": Profile(
        residential=99, commercial=60, buildings=12, units=5, floors=27,
        rooms=None, shop_floors=4, shops_per_floor=12,
        owner_share=0.55, fee_share=0.6, repairs=1.6, common_repairs=3.0,
        complaints=4.0, decorations=1.5, inspections=4, period="week",
        validate_every=1000, industrial=20, public=20, buildings_range=(8, 16), split_commits=True,
        lease_share=0.5,
    ),
}

# ------------------------------------------------------------------ the world

RESIDENTIAL_NAMES = [
    ("翠湖花園", "吳中區", "翠湖路88號", "蘇州翠湖置業有限公司"),
    ("錦繡華庭", "姑蘇區", "錦繡路16號", "蘇州錦繡房地產開發有限公司"),
    ("香樟園", "工業園區", "香樟街9號", "蘇州園區香樟置業有限公司"),
    ("雲水灣", "相城區", "雲水路128號", "蘇州雲水置地有限公司"),
    ("梧桐苑", "虎丘區", "梧桐路36號", "蘇州高新梧桐置業有限公司"),
    ("桂花城", "吳江區", "桂花大道200號", "蘇州桂花城房地產有限公司"),
    ("湖畔雅苑", "吳中區", "湖畔路55號", "蘇州湖畔置業有限公司"),
    ("金色家園", "姑蘇區", "金門路77號", "蘇州金色家園開發有限公司"),
    ("天域名邸", "工業園區", "星湖街318號", "蘇州天域置業有限公司"),
]
INDUSTRIAL_NAMES = [
    ("吳淞江產業園", "吳中區", "吳淞江大道18號", "蘇州吳淞江產業發展有限公司", "industrial_park"),
    ("獨墅湖科創中心", "工業園區", "仁愛路99號", "蘇州獨墅湖科技發展有限公司", "rnd_centre"),
    ("滸關物流園", "虎丘區", "滸楊路66號", "蘇州滸關物流有限公司", "warehouse"),
]
PUBLIC_NAMES = [
    ("蘇州市第十二中學", "姑蘇區", "學士街8號", "蘇州市姑蘇區教育局", "school", "師生", "06:30-22:00"),
    ("吳中區人民醫院門診樓", "吳中區", "寶帶東路61號", "蘇州市吳中區衛生健康委員會", "hospital", "患者", "00:00-24:00"),
    ("相城區圖書館", "相城區", "陽澄湖路1號", "蘇州市相城區文化體育和旅遊局", "library", "讀者", "09:00-21:00"),
]
COMMERCIAL_NAMES = [
    ("星河廣場", "工業園區", "星河街1號", "蘇州星河商業管理有限公司", "shopping_centre"),
    ("金融港大廈", "工業園區", "蘇州大道東265號", "蘇州金融港投資有限公司", "office"),
    ("時代天街", "相城區", "時代路99號", "蘇州時代天街商業有限公司", "shopping_centre"),
    ("觀前商業街", "姑蘇區", "觀前街60號", "蘇州觀前商業發展有限公司", "street_shops"),
]
MANAGERS = ["陳立新", "馬駿", "黃志華", "劉麗娟", "徐建平", "沈國強", "顧曉燕", "朱偉", "陸明", "楊帆"]
ENGINEERS = ["李海峰", "吳建國", "王磊", "張志剛", "周強", "錢勇", "孫浩", "鄭斌", "許亮", "何軍"]
SERVICE = ["周敏", "林芳", "蔣婷", "曹雪", "彭丹", "范琳", "潘悅", "葉倩", "施佳", "嚴靜"]
FIRE_LEADS = ["趙偉", "鄭磊", "韓冬", "秦凱", "邵峰", "毛俊", "傅剛", "田野", "姜濤", "俞輝"]
FINANCE = ["錢芳", "馮潔", "龔玲", "薛紅", "姚萍", "湯麗", "白雪", "史文", "陶然", "余慧"]
TECHNICIANS = ["李海峰", "王建", "劉師傅", "陳小兵", "趙永", "孫立", "楊斌", "吳剛"]
# who files what (vault.yaml `departments`, docs/format.md §5; plan §4.3: 客服部門、維修部門、
# 安保部門等相關部門將產生的檔案材料及時提交給檔案管理人員): `dangan due` and `dangan gaps` name them
DEPARTMENTS = [
    {"name": "客服部", "responsible": SERVICE[0], "people": SERVICE[:4],
     "files": [{"category": c} for c in ("YZ", "ZH", "FW", "TS", "SF", "ZX", "TZ", "MY")]},
    {"name": "工程部", "responsible": ENGINEERS[0], "people": ENGINEERS[:4],
     "files": [{"category": c} for c in ("SB", "WX", "XJ", "YX")]},
    {"name": "安保部", "responsible": FIRE_LEADS[0], "people": FIRE_LEADS[:3], "files": [{"category": "AQ"}]},
    {"name": "環境部", "responsible": "葉倩", "files": [{"category": "HJ"}]},
    {"name": "綜合管理部", "responsible": MANAGERS[0], "people": [MANAGERS[0], FINANCE[0]],
     "files": [{"category": c} for c in ("QY", "XM", "LD", "HT", "CW", "BZ")]},
    {"name": "檔案室", "responsible": DEMO_ARCHIVIST, "files": [{"category": c} for c in ("JY", "XH", "JD", "YJ", "BQ", "PD", "KF", "PX")]},
]


@dataclass
class Room:
    loc: Location
    floor: int
    use: str  # residential, shop
    area: float
    fw: str = ""
    owner: str = ""  # YZ code, if any
    owner_name: str = ""  # the primary owner (encrypted in the YZ record)
    building: Building | None = None


@dataclass
class Building:
    loc: Location
    no: int
    floors: int
    units: list[str]
    ld: str = ""
    elevators: list[str] = field(default_factory=list)
    escalators: list[str] = field(default_factory=list)
    rooms: list[Room] = field(default_factory=list)


@dataclass
class Project:
    loc: Location
    name: str
    kind: str  # residential, commercial: how the simulation treats it
    district: str
    address: str
    developer: str
    subtype: str
    managed_from: dt.date
    manager: str
    engineer: str
    service: str
    fire: str
    finance: str
    buildings: list[Building] = field(default_factory=list)
    ptype: str = ""  # property_type of the project: residential, commercial, industrial, public
    extra: tuple[str, ...] = ()  # industrial / public particulars
    xm: str = ""
    plan: str = ""  # emergency plan (AQ)
    equipment: dict[str, str] = field(default_factory=dict)  # role -> SB code
    contracts: dict[str, str] = field(default_factory=dict)  # subject -> current HT code

    @property
    def code(self) -> str:
        return self.loc.parts[0]

    @property
    def rooms(self) -> list[Room]:
        return [room for b in self.buildings for room in b.rooms]

    def place(self, building: Building, unit: str | None = None, room: Room | None = None) -> str:
        """A human name: 2棟1單元301室 / 1號樓3F-0302鋪位."""
        if self.kind == "commercial":
            if room is not None:
                unit = "鋪位" if self.ptype == "commercial" else "單元"
                return f"{building.no}號樓{room.floor}F-{room.loc.parts[3]}{unit}"
            return f"{building.no}號樓"
        text = f"{building.no}棟"
        if room is not None:
            return f"{text}{int(room.loc.parts[2])}單元{int(room.loc.parts[3])}室"
        if unit is not None:
            return f"{text}{int(unit)}單元"
        return text


class _Append:
    """In `set` changes: append these items to a list field."""

    def __init__(self, *items: Any) -> None:
        self.items = list(items)


@dataclass
class _Pending:
    kind: str  # new, set
    when: dt.datetime
    code: Code
    data: bytes
    label: str  # the title (new) or the changed keys (set)


# --------------------------------------------------------------------- helpers

TRAILING = ("custody", "refs", "tags", "notes", "retention", "attachments")  # attach appends its list


def order_fields(tree: dict[str, Any]) -> dict[str, Any]:
    """Common fields first, the category's fields, then custody, refs, tags, notes (as in
    the schema examples)."""
    head = {key: tree[key] for key in COMMON_ORDER if key in tree}
    body = {k: v for k, v in tree.items() if k not in head and k not in TRAILING}
    tail = {key: tree[key] for key in TRAILING if key in tree}
    return {**head, **body, **tail}


def _money(value: float) -> float | int:
    value = round(value, 2)
    return int(value) if value == int(value) else value


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first day of every month from `first`'s month to `last`'s month."""
    out = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(dt.date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _month_end(day: dt.date) -> dt.date:
    nxt = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


# ---------------------------------------------------------------- catalogues

SHOPS = [
    ("茶語", "catering"), ("老蘇州麵館", "catering"), ("優品生活館", "retail"),
    ("童趣樂園", "entertainment"), ("美家洗衣", "services"), ("書香閣", "retail"),
    ("鮮果時光", "retail"), ("瑜伽生活", "services"), ("咖啡研究所", "catering"),
    ("潮流服飾", "retail"), ("星光影院", "entertainment"), ("眼鏡專家", "retail"),
]

INDUSTRIAL_TENANTS = [
    ("精研電子", "office"), ("恒力倉儲", "other"), ("博創智能", "office"), ("順達冷鏈", "other"),
    ("新材科技", "office"), ("匯通物流", "other"),
]

EQUIPMENT = {
    "fire_pump": ("fire_protection", "消防泵組", "XBD8.0/30G-L", "上海連成（集團）有限公司", "消防泵房", 37, "P1M", FIRE_CO),
    "transformer": ("power_supply", "10kV乾式變壓器", "SCB13-1250/10", "江蘇華鵬變壓器有限公司", "配電房", 1250, "P1Y", POWER_CO),
    "water_pumps": ("water_supply", "無負壓變頻供水設備", "WWG(II)30-0.8-3", "蘇州宏川泵業有限公司", "地下一層水泵房", 11, "P1M", None),
    "chiller": ("hvac", "離心式冷水機組", "19XR-1000", "開利空調（上海）有限公司", "地下二層冷凍機房", 620, "P1M", HVAC_CO),
    "ahu": ("hvac", "組合式空調機組", "39CQ-1418", "開利空調（上海）有限公司", "各層空調機房", 22, "P1M", HVAC_CO),
}

LEAD_DAYS = (8, 18)  # a certificate is renewed this many days before it expires

SUBCONTRACTS = {  # subject: (contractor, what, years per contract, years its terms lag the others)
    "elevator": (ELEVATOR_CO, "電梯維護保養", 2, 0),
    "hvac": (HVAC_CO, "中央空調維護保養", 2, 0),
    "cleaning": (CLEAN_CO, "保潔及外立面清洗", 3, 1),
}
CONTRACT_ENDS_IN = 25  # days from the demo's day to the end of the two-year subcontracts
REVIEW_OVERDUE_DAYS = 280  # days the emergency plans' review is overdue on the demo's day

PRIVATE_FAULTS = [
    ("衛生間角閥漏水", "plumbing", "衛生間洗手盆下角閥滲水。", "更換冷熱水角閥各1個。", [("角閥", "DN15 全銅", 2, "個", 35)]),
    ("廚房下水管堵塞", "plumbing", "廚房水槽排水緩慢，疑似下水管堵塞。", "疏通廚房排水支管，清除油污。", []),
    ("陽台地漏返水", "plumbing", "下雨時陽台地漏返水。", "清理地漏存水彎，更換防臭地漏芯。", [("防臭地漏芯", "DN50", 1, "個", 28)]),
    ("戶內空氣開關頻繁跳閘", "electrical", "使用電熱水器時空氣開關跳閘。", "更換漏電保護開關，檢查熱水器線路絕緣正常。", [("漏電保護開關", "DZ47LE-32A", 1, "個", 65)]),
    ("廚房照明燈不亮", "electrical", "廚房吸頂燈不亮，更換燈泡無效。", "更換LED驅動電源。", [("LED驅動電源", "24W", 1, "個", 40)]),
    ("入戶門鎖芯卡滯", "doors_windows", "入戶門鑰匙轉動困難。", "清潔潤滑鎖芯，調整鎖舌位置。", []),
    ("臥室窗戶執手損壞", "doors_windows", "主臥推拉窗執手斷裂，無法鎖閉。", "更換窗戶執手。", [("窗戶執手", "鋁合金", 1, "個", 30)]),
    ("外牆滲水導致臥室牆面發霉", "civil", "次臥外牆內側牆面返潮發霉。", "外牆打膠封堵裂縫，內牆鏟除霉斑重新刷漆。", [("耐候密封膠", "300ml", 3, "支", 26)]),
]

COMMON_FAULTS = [
    ("樓道聲控燈不亮", "electrical", "樓道聲控燈多層不亮。", "更換聲控感應燈。", [("聲控LED燈", "7W", 4, "個", 22)]),
    ("單元門禁讀卡失靈", "weak_current", "單元門禁刷卡無反應。", "更換門禁讀卡模塊並重新授權。", [("讀卡模塊", "IC-13.56M", 1, "個", 180)]),
    ("地下車庫排水溝堵塞", "plumbing", "地下車庫排水溝積水。", "清掏排水溝淤泥，疏通集水井。", []),
    ("消防通道防火門閉門器損壞", "fire", "樓梯間防火門不能自動關閉。", "更換閉門器。", [("閉門器", "65kg", 1, "個", 120)]),
    ("屋面防水層局部破損", "civil", "頂層住戶反映天花板滲水，屋面防水層局部起鼓破損。", "局部鏟除後重做SBS防水卷材。", [("SBS防水卷材", "4mm", 12, "m²", 38)]),
]

LIFT_FAULTS = [
    ("困人", "02", "電梯停在兩層之間，一名乘客被困。", "15分鐘內到場放人，更換門鎖回路觸點。"),
    ("門機異響", "01", "轎門開關時有明顯異響。", "調整門機皮帶張力，清潔門導軌並加油。"),
    ("平層不準", "01", "停靠時轎廂與樓面有約3厘米高差。", "重新校準平層感應器。"),
]

UPKEEP = {
    "residential": [
        ("fire_pump", "fire", "消防泵季度保養", "季度計劃保養：盤車、點動試運轉、檢查閥門及壓力表。", "兩台泵手動及自動啟泵正常，出口壓力0.82 MPa，補充軸承潤滑脂。"),
        ("transformer", "electrical", "變壓器年度預防性試驗", "年度預防性試驗：絕緣電阻、直流電阻、耐壓試驗。", "各項試驗數據合格，清掃柜體灰塵，緊固母排螺栓。"),
        ("water_pumps", "plumbing", "二次供水泵組半年保養", "半年保養：檢查密封、軸承、變頻器參數。", "更換機械密封1套，校驗壓力傳感器。"),
    ],
    "commercial": [
        ("chiller", "hvac", "冷水機組換季保養", "換季保養：清洗冷凝器、檢查冷媒壓力、校驗安全保護。", "冷凝器通炮清洗，冷媒壓力正常，補充冷凍油。"),
        ("fire_pump", "fire", "消防泵季度保養", "季度計劃保養：盤車、點動試運轉、檢查閥門及壓力表。", "主備泵切換正常，出口壓力0.85 MPa。"),
        ("ahu", "hvac", "空調機組過濾網清洗", "季度保養：清洗初效、中效過濾網。", "清洗過濾網64片，更換破損中效過濾袋6個。"),
        ("transformer", "electrical", "變壓器年度預防性試驗", "年度預防性試驗：絕緣電阻、直流電阻、耐壓試驗。", "試驗數據合格，溫控器校驗正常。"),
    ],
}

COMPLAINTS = [
    ("complaint", "noise", "投訴樓上裝修噪音", "午休時間樓上裝修電鑽噪音，影響休息。", "已要求裝修施工方遵守作業時間，後續巡查未再發現違規。"),
    ("complaint", "parking", "投訴車位被佔用", "本人產權車位被外來車輛長期佔用。", "聯繫車主挪車，並在車位加裝地鎖。"),
    ("complaint", "cleaning", "投訴樓道垃圾未及時清運", "樓道垃圾桶滿溢，異味明顯。", "調整保潔清運頻次為每日兩次。"),
    ("complaint", "pets", "投訴鄰居犬隻夜間吠叫", "鄰居家犬隻夜間持續吠叫。", "上門溝通，犬主承諾夜間關窗並加強看管。"),
    ("complaint", "water_power", "投訴停水未提前通知", "週六上午突然停水，事先未見通知。", "向業主致歉，明確停水須提前24小時在單元公告欄及業主群通知。"),
    ("suggestion", "greening", "建議增加綠化帶消殺", "樓下綠化帶蚊蟲多，建議增加消殺頻次。", "夏季消殺頻次由每月兩次增加為每週一次。"),
    ("complaint", "repair", "投訴維修人員未按約上門", "報修後維修人員未按約定時間上門。", "向業主致歉並當日完成維修，對維修班組進行考核。"),
    ("enquiry", "fees", "諮詢物業費賬單", "對本年度物業費賬單中的公攤費用有疑問。", "解釋公攤費用構成並提供明細。"),
    ("complaint", "elevator", "投訴電梯運行異響", "電梯運行時有異響，擔心安全。", "維保單位檢查後調整導靴，異響消除。"),
    ("complaint", "security", "投訴陌生人尾隨進入單元", "有陌生人尾隨進入單元門。", "加強門崗登記和夜間巡邏，單元門加裝閉門提醒。"),
    ("praise", "staff_conduct", "表揚維修師傅服務熱情", "維修師傅深夜上門搶修，服務熱情。", "已轉達並在月度例會上表揚。"),
]


# ------------------------------------------------------------------- the builder

class _Demo(StoriesMixin, PracticeMixin):
    def __init__(self, vault: Vault, profile: Profile, today: dt.date,
                 identities: list[agekeys.Identity] | None = None) -> None:
        self.vault = vault
        self.profile = profile
        self.rng = random.Random(SEED)
        self.people = _People(SEED + 1)
        # sealing: the demo key opens a record's previous version to keep its data key
        self.identities = identities or []
        self.docs: dict[str, dict[str, Any]] = {}  # code -> the stored SOPS document
        self.sealed: dict[str, tuple[frozenset[str], str, list[str]]] = {}
        for category, cat in vault.schemas.categories.items():
            if cat.sensitive:
                self.sealed[category] = (cat.sensitive, sops.encrypted_regex_for(cat.sensitive), vault.recipient_keys(category))
        self.validated = 0
        self.cutoff = _at(today, 0)  # history ends before today
        self.start = self.cutoff - dt.timedelta(days=DAYS_OF_HISTORY)
        self.activity_start = self.start + dt.timedelta(days=ONBOARDING_DAYS, hours=8)
        self.serials: dict[tuple[str, Location], int] = {}
        self.trees: dict[str, dict[str, Any]] = {}
        self.queue: list[tuple[dt.datetime, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = itertools.count()
        self.now = self.start
        self.running = False
        self.pending: list[_Pending] = []
        self.history: _History | None = None
        self.period: tuple[int, int] | None = None
        self.commits = 0
        self.last_commit = self.start
        self.projects: list[Project] = []
        self.examples: dict[str, str] = {}

    # ------------------------------------------------------------- scheduling
    def at(self, when: dt.datetime, fn: Callable[..., None], *args: Any) -> None:
        """Run fn(*args) at `when`; events on or after the cutoff never happen.

        While the story is being planned (before `run`), events before the start of the
        history are dropped: they happened before the archive was kept in the vault.
        """
        if when >= self.cutoff:
            return
        if when < self.now:
            if self.running:
                raise RuntimeError(f"demo generator bug: {fn.__name__} scheduled in the past")
            return
        heapq.heappush(self.queue, (when, next(self.seq), fn, args))

    def run(self, progress: Callable[[float], None] | None = None) -> None:
        self.running = True
        total = (self.cutoff - self.start).total_seconds()
        while self.queue:
            when, _, fn, args = heapq.heappop(self.queue)
            key = self._period_key(when)
            if key != self.period:
                self.flush()
                self.period = key
                if progress is not None:
                    progress((when - self.start).total_seconds() / total)
            self.now = when
            fn(*args)
        self.flush()

    def _period_key(self, when: dt.datetime) -> tuple[int, int]:
        if self.profile.period == "week":
            iso = when.isocalendar()
            return (iso[0], iso[1])
        return (when.year, when.month)

    def day(self, lo: dt.datetime, hi: dt.datetime) -> dt.datetime:
        """A random business-hours moment between lo and hi."""
        span = max(0, (hi.date() - lo.date()).days)
        day = lo.date() + dt.timedelta(days=self.rng.randint(0, span))
        moment = _at(day, self.rng.randint(8, 17), self.rng.choice((0, 5, 10, 15, 20, 30, 40, 45, 50)))
        return max(moment, lo)

    def later(self, base: dt.datetime, min_hours: float, max_hours: float, office: bool = True) -> dt.datetime:
        """A moment some hours after `base`; with `office`, moved into office hours (8-18)."""
        moment = base + dt.timedelta(minutes=self.rng.randint(int(min_hours * 60), int(max_hours * 60)))
        moment = moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
        if office and not 8 <= moment.hour < 18:
            day = moment.date() + dt.timedelta(days=1 if moment.hour >= 18 else 0)
            moment = max(_at(day, 8, self.rng.choice((10, 20, 30, 40, 50))), moment)
        return moment

    def pick(self, items: list[Any], share: float, must: Callable[[Any], bool] = lambda _: False) -> list[Any]:
        """round(share * len(items)) of `items` (and every one `must` names), in their order."""
        chosen = set(self.rng.sample(range(len(items)), round(share * len(items))))
        return [item for i, item in enumerate(items) if i in chosen or must(item)]

    # ------------------------------------------------------------- records
    def new(self, category: str, loc: Location, fields: dict[str, Any]) -> str:
        key = (category, loc)
        self.serials[key] = self.serials.get(key, 0) + 1
        code = Code(category, loc, self.serials[key])
        tree = order_fields({"code": str(code), "category": category, **fields})
        self._validate(code, tree)
        self.trees[str(code)] = tree
        named = "" if tree.get("level") == "secret" else str(tree["title"])  # a secret title: not in the log
        self.pending.append(_Pending("new", self.now, code, self._text(code, tree), named))
        return str(code)

    def set(self, code: str, changes: dict[str, Any]) -> None:
        tree = copy.deepcopy(self.trees[code])
        for key, value in changes.items():
            if isinstance(value, _Append):
                tree[key] = list(tree.get(key) or []) + value.items
            elif value is None:
                tree.pop(key, None)
            else:
                tree[key] = value
        parsed = parse_code(code)
        tree = order_fields(tree)
        self._validate(parsed, tree)
        self.trees[code] = tree
        self.pending.append(_Pending("set", self.now, parsed, self._text(parsed, tree), ", ".join(changes)))

    def _text(self, code: Code, tree: dict[str, Any]) -> bytes:
        """The file of a record: plain YAML, or a SOPS document when it holds a sensitive
        value (a new data key per record; a change keeps the key and unchanged ciphertext)."""
        if SIMPLIFIED:  # the words from below the demo too (demo/simplified.py)
            from dangan.demo.simplified import fold_tree

            tree = fold_tree(tree)
        if tree.get("level") == "secret":  # for its readers only: a new data key each time
            cat = self.vault.schemas.categories[code.category]
            names = cat.names_for("secret")
            doc = sops.encrypt_document(
                tree, self.vault.recipient_keys(code.category, "secret"), sops.encrypted_regex_for(names),
                now=self.now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            self.docs[str(code)] = doc
            return dump(doc).encode()
        sealed = self.sealed.get(code.category)
        if sealed is None or not has_clear_sensitive(tree, sealed[0]):
            self.docs.pop(str(code), None)
            return dump(tree).encode()
        _names, regex, recipients = sealed
        doc = sops.encrypt_document(
            tree, recipients, regex, previous_doc=self.docs.get(str(code)), identities=self.identities,
            now=self.now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        self.docs[str(code)] = doc
        return dump(doc).encode()

    def _validate(self, code: Code, tree: dict[str, Any]) -> None:
        # the plaintext against the full schema (sensitive values included), before sealing
        self.validated += 1
        if self.validated % self.profile.validate_every == 0:
            errors = self.vault.schemas.errors(code.category, tree)
            if errors:
                shown = "; ".join(f"{path}: {reason}" for path, reason in errors[:5])
                raise RuntimeError(f"demo generator bug: {code} does not validate: {shown}")
        for ref in tree.get("refs", []):
            if ref not in self.trees and ref != str(code):
                raise RuntimeError(f"demo generator bug: {code} refers to {ref}, not filed yet")
        opened = tree["opened"]
        closed = tree.get("closed")
        if opened > _d(self.now) or (closed and (closed < opened or closed > _d(self.now))):
            raise RuntimeError(f"demo generator bug: {code} dates do not fit {_d(self.now)}")

    # ------------------------------------------------------------- commits
    def flush(self) -> None:
        pending, self.pending = self.pending, []
        groups: dict[str, list[_Pending]] = {}
        for item in pending:
            groups.setdefault(self._group(item.code), []).append(item)
        for _group, items in sorted(groups.items()):
            news = [p for p in items if p.kind == "new"]
            sets = [p for p in items if p.kind == "set"]
            if news:
                self._commit(news, "new")
            if sets:
                last: dict[Code, _Pending] = {}
                keys: dict[Code, list[str]] = {}
                for item in sets:
                    last[item.code] = item
                    keys.setdefault(item.code, [])
                    for key in item.label.split(", "):
                        if key not in keys[item.code]:
                            keys[item.code].append(key)
                merged = [
                    _Pending("set", item.when, code, item.data, ", ".join(keys[code]))
                    for code, item in last.items()
                ]
                self._commit(merged, "set", max(s.when for s in sets))

    def _group(self, code: Code) -> str:
        """The large demo commits the residential estates (A..) apart from the rest, as two
        offices would."""
        if not self.profile.split_commits:
            return ""
        return "A" if code.location.parts and code.location.parts[0].startswith("A") else "B"

    def _commit(self, items: list[_Pending], verb: str, when: dt.datetime | None = None) -> None:
        # committed half an hour after the last change, never before the previous commit
        # and never on the build day itself
        when = (when or max(i.when for i in items)) + dt.timedelta(minutes=30)
        when = max(min(when, self.cutoff - dt.timedelta(minutes=1)), self.last_commit + dt.timedelta(minutes=1))
        self.last_commit = when
        first = items[0]
        label = first.label
        if verb == "set" and label.count(", ") > 2:
            label = ", ".join(label.split(", ")[:3]) + ", ..."
        subject = f"dangan {verb}: {first.code} {label}".rstrip()
        if len(items) > 1:
            subject += f" (+{len(items) - 1} more)"
        body = "\n".join(f"{item.code} {item.label}".rstrip() for item in items[:MESSAGE_LINES])
        if len(items) > MESSAGE_LINES:
            body += f"\n... and {len(items) - MESSAGE_LINES} more"
        message = subject if len(items) == 1 else f"{subject}\n\n{body}\n"
        # Every record was validated against the schemas before it was queued (see
        # _validate), and the whole vault is checked once at the end: no hook per batch.
        assert self.history is not None
        self.history.commit(when, message, [(item.code.path, item.data) for item in items])
        self.commits += 1

    # ============================================================ the story
    def build(self, progress: Callable[[float], None] | None = None) -> None:
        self.plan_world()
        self.at(self.start + dt.timedelta(days=1, hours=10), self.onboard_company)
        for i, project in enumerate(self.projects):
            base = self.start + dt.timedelta(days=2 + (i * 18) // len(self.projects))
            self.at(base + dt.timedelta(hours=9), self.onboard_project, project)
            self.at(base + dt.timedelta(days=1, hours=9), self.onboard_rooms, project)
            self.at(base + dt.timedelta(days=2, hours=9), self.onboard_equipment, project)
            self.at(base + dt.timedelta(days=3, hours=9), self.onboard_contracts, project)
            self.schedule_activity(project)
        self.schedule_company()
        self.schedule_showcase()
        self.schedule_stories()
        self.schedule_practice()
        self.run(progress)

    # ---------------------------------------------------------------- world
    def plan_world(self) -> None:
        p = self.profile
        for i in range(p.residential):
            name, district, street, developer = RESIDENTIAL_NAMES[i % len(RESIDENTIAL_NAMES)]
            if i >= len(RESIDENTIAL_NAMES):
                name = f"{name}{i // len(RESIDENTIAL_NAMES) + 1}期"
            self.projects.append(self._project(f"A{i + 1:02d}", name, "residential", district, street, developer, "apartment", i))
        for i in range(p.commercial):
            name, district, street, developer, subtype = COMMERCIAL_NAMES[i % len(COMMERCIAL_NAMES)]
            if i >= len(COMMERCIAL_NAMES):
                name = f"{name}{i // len(COMMERCIAL_NAMES) + 1}期"
            self.projects.append(self._project(f"B{i + 1:02d}", name, "commercial", district, street, developer, subtype, i + 5))
        for i in range(p.industrial):
            name, district, street, developer, subtype = INDUSTRIAL_NAMES[i % len(INDUSTRIAL_NAMES)]
            if i >= len(INDUSTRIAL_NAMES):
                name = f"{name}{i // len(INDUSTRIAL_NAMES) + 1}期"
            project = self._project(f"C{i + 1:02d}", name, "commercial", district, street, developer, subtype, i + 3)
            project.ptype = "industrial"
            self.projects.append(project)
        for i in range(p.public):
            name, district, street, owner, subtype, users, hours = PUBLIC_NAMES[i % len(PUBLIC_NAMES)]
            if i >= len(PUBLIC_NAMES):
                name = f"{name}（{i // len(PUBLIC_NAMES) + 1}號院區）"
            project = self._project(f"D{i + 1:02d}", name, "commercial", district, street, owner, subtype, i + 7)
            project.ptype, project.extra = "public", (users, hours)
            self.projects.append(project)
        for project in self.projects:
            if project.kind == "residential":
                count = p.buildings if p.buildings_range is None else self.rng.randint(*p.buildings_range)
                for b in range(1, count + 1):
                    floors = p.floors if b % 3 else max(6, p.floors - 7)
                    units = [f"{u:03d}" for u in range(1, p.units + 1)]
                    building = Building(Location((project.code, f"{b:02d}")), b, floors, units)
                    for unit in units:
                        numbers = p.rooms or tuple(f"{f:02d}{d:02d}" for f in range(1, floors + 1) for d in (1, 2))
                        for number in numbers:
                            floor = int(number[:2])
                            if floor > floors:
                                continue
                            area = self.rng.choice((89.56, 96.32, 118.75, 128.4, 143.9))
                            building.rooms.append(
                                Room(Location((project.code, f"{b:02d}", unit, number)), floor, "residential", area, building=building)
                            )
                    project.buildings.append(building)
            else:
                building = Building(Location((project.code, "01")), 1, p.shop_floors + 6, ["001"])
                use = {"commercial": "shop", "industrial": "storage", "public": "office"}[project.ptype]
                for floor in range(1, p.shop_floors + 1):
                    for shop in range(1, p.shops_per_floor + 1):
                        area = _money(self.rng.uniform(40, 260) * (3 if use == "storage" else 1))
                        building.rooms.append(
                            Room(Location((project.code, "01", "001", f"{floor:02d}{shop:02d}")), floor, use, area, building=building)
                        )
                project.buildings.append(building)

    def _project(self, code: str, name: str, kind: str, district: str, street: str, developer: str, subtype: str, i: int) -> Project:
        # managed for one to eight years before the history starts (2015-2022 for a 2026 build)
        year = self.start.year - 9 + (i * 3) % 8
        return Project(
            loc=Location((code,)),
            name=name,
            kind=kind,
            district=district,
            address=f"江蘇省蘇州市{district}{street}",
            developer=developer,
            subtype=subtype,
            managed_from=dt.date(year, 1 + (i * 5) % 12, 1),
            manager=MANAGERS[i % len(MANAGERS)],
            engineer=ENGINEERS[i % len(ENGINEERS)],
            service=SERVICE[i % len(SERVICE)],
            fire=FIRE_LEADS[i % len(FIRE_LEADS)],
            finance=FINANCE[i % len(FINANCE)],
            ptype=kind,
        )

    def custody(self, project: Project | None, cabinet: str, box: str) -> dict[str, str]:
        room = HQ_ARCHIVE if project is None else f"{project.name}客服中心檔案室"
        return {"form": "both", "room": room, "cabinet": cabinet, "shelf": str(self.rng.randint(1, 5)), "box": box}

    # ----------------------------------------------------------- onboarding
    def onboard_company(self) -> None:
        self.new("QY", Location(), {
            "title": f"{COMPANY}營業執照",
            "status": "active",
            "opened": "2016-03-18",
            "doc_type": "business_licence",
            "certificate_no": "320506000412876",
            "holder": COMPANY,
            "credit_code": COMPANY_CREDIT_CODE,
            "issuer": "蘇州市吳中區市場監督管理局",
            "issued": "2016-03-18",
            "scope": "物業管理；停車場服務；家政服務；綠化養護；保潔服務；房屋維修。",
            "custody": self.custody(None, "01", "QY-01"),
            "tags": ["證照"],
        })
        self._iso_certificate(dt.date(self.start.year - 1, 5, 10))
        rating = dt.date(self.start.year - 1, 9, 1)
        self.examples["rating"] = self.new("QY", Location(), {
            "title": "蘇州市物業服務企業信用等級評價證書",
            "status": "active",
            "opened": _d(rating),
            "doc_type": "credit_rating",
            "certificate_no": f"蘇物協信評{rating.year}-0386",
            "holder": COMPANY,
            "issuer": "蘇州市物業管理協會",
            "issued": _d(rating),
            "grade": "AA",
            "annual_reviews": [{"review_date": _d(rating), "result": "passed", "remark": "首次評價"}],
            "custody": self.custody(None, "01", "QY-03"),
        })

    def _iso_certificate(self, issued: dt.date) -> None:
        """The ISO 9001 certificate (three years), and its re-certification before expiry."""
        until = _add_years(issued, 3) - dt.timedelta(days=1)
        self.examples["licence"] = self.new("QY", Location(), {
            "title": f"ISO 9001質量管理體系認證證書（{issued.year}-{until.year}）",
            "status": "active",
            "opened": _d(issued),
            "doc_type": "system_certification",
            "certificate_no": f"00{issued.year % 100}3Q{self.rng.randint(10000, 99999)}R2M",
            "holder": COMPANY,
            "issuer": "中質協質量保證中心",
            "issued": _d(issued),
            "valid_until": _d(until),
            "scope": "物業管理服務",
            "standard": "GB/T 19001-2016/ISO 9001:2015",
            "custody": self.custody(None, "01", "QY-02"),
            "tags": ["證照", "體系認證"],
        })
        self.at(_at(until - dt.timedelta(days=25), 14), self._iso_recertified)

    def _iso_recertified(self) -> None:
        old = self.examples["licence"]
        self._iso_certificate(self.now.date())
        self.set(old, {"status": "superseded", "closed": _d(self.now)})

    def schedule_company(self) -> None:
        # ISO 9001 surveillance audits and the yearly credit rating review
        for year in range(self.start.year, self.cutoff.year + 1):
            self.at(_at(dt.date(year, 4, 22), 15), self._iso_audit, year)
            self.at(_at(dt.date(year, 9, 8), 16), self._rating_review, year)

    def _iso_audit(self, year: int) -> None:
        code = self.examples["licence"]
        issued = dt.date.fromisoformat(self.trees[code]["issued"])
        nth = year - issued.year
        if nth < 1 or nth > 2:
            return
        self.set(code, {"annual_reviews": _Append(
            {"review_date": _d(self.now), "result": "passed", "remark": f"第{'一二'[nth - 1]}次監督審核"}
        )})

    def _rating_review(self, year: int) -> None:
        self.set(self.examples["rating"], {"annual_reviews": _Append(
            {"review_date": _d(self.now), "result": "passed", "remark": f"{year}年度複評，維持AA級"}
        )})

    def onboard_project(self, project: Project) -> None:
        p = project
        if p.kind == "residential":
            households = sum(len(b.units) * b.floors * 2 for b in p.buildings)
            specific: dict[str, Any] = {"residential": {
                "subtype": "apartment",
                "buildings": len(p.buildings),
                "households": households,
                "parking_spaces": int(households * 1.1),
                "public_facilities": ["地下車庫", "兒童遊樂場", "健身步道", "垃圾分類亭", "非機動車充電棚"],
            }}
            area = sum(r.area for b in p.buildings for r in b.rooms) if self.profile.rooms is None else households * 108.0
        elif p.ptype == "industrial":
            area = 2400.0 * len(p.rooms)
            specific = {"industrial": {
                "subtype": p.subtype,
                "production_safety": {"hazard_level": "C", "safety_officer": f"{p.fire}（安全主管）", "hazardous_materials": False},
                "environmental_permits": [{"permit_kind": "eia_approval", "permit_no": f"蘇環建〔{p.managed_from.year - 2}〕{int(p.code[1:]) * 37:03d}號",
                                           "issuer": "蘇州市生態環境局"}],
            }}
        elif p.ptype == "public":
            area = 1800.0 * len(p.rooms)
            specific = {"public": {
                "subtype": p.subtype,
                "service_users": {"users_kind": p.extra[0], "daily_users": 800 + 150 * int(p.code[1:])},
                "opening_hours": p.extra[1],
            }}
        else:
            # the demo files only some of the shops; the profile describes the whole centre
            shops = max(len(p.rooms), 60 + 23 * int(p.code[1:]))
            area = 380.0 * shops
            specific = {"commercial": {
                "subtype": p.subtype,
                "shops": shops,
                "leasable_area": _money(area * 0.6),
                "tenancy_mix": [
                    {"trade": "retail", "share": 45},
                    {"trade": "catering", "share": 30},
                    {"trade": "entertainment", "share": 15},
                    {"trade": "services", "share": 10},
                ],
                "operating_hours": "10:00-22:00",
                "average_daily_visitors": 100 * shops + 5000,
            }}
        land = _money(area / 1.25)
        p.xm = self.new("XM", p.loc, {
            "title": f"{p.name}項目概況",
            "status": "active",
            "opened": _d(p.managed_from),
            "project_name": p.name,
            "property_type": p.ptype,
            "site_address": p.address,
            "district": p.district,
            "developer": p.developer,
            **({"owners_committee": f"{p.name}業主委員會"} if p.kind == "residential" else {}),
            "land_area": land,
            "building_area": _money(area),
            "green_area": _money(land * 0.36),
            "green_ratio": 36,
            "plot_ratio": 1.25,
            "management_start": _d(p.managed_from),
            "manager": p.manager,
            "service_phone": f"0512-6{'58' if p.kind == 'residential' else '76'}8{1200 + int(p.code[1:]) * 11:04d}",
            **specific,
            "custody": self.custody(p, "01", "XM-01"),
        })
        if p.code == "A01":
            self.examples["project"] = p.xm
        for b in p.buildings:
            households = len(b.units) * b.floors * 2 if p.kind == "residential" else 0
            b.ld = self.new("LD", b.loc, {
                "title": f"{p.name}{b.no}{'棟' if p.kind == 'residential' else '號樓'}樓棟檔案",
                "status": "in_use",
                "opened": _d(p.managed_from),
                "building_no": f"{b.no}{'棟' if p.kind == 'residential' else '號樓'}",
                "site_address": f"{p.address}{b.no}{'棟' if p.kind == 'residential' else '號樓'}",
                "use": p.kind,
                "structure": "shear_wall" if p.kind == "residential" else "frame",
                "floors_above": b.floors,
                "floors_below": 1 if p.kind == "residential" else 2,
                "height": _money(b.floors * 3.0 + 0.3),
                "units": len(b.units),
                **({"households": households} if households else {}),
                "elevators": len(b.units) if p.kind == "residential" else 4,
                "fire_resistance": "grade_1",
                "completed": _d(p.managed_from - dt.timedelta(days=65)),
                "handed_over": _d(p.managed_from),
                "unit_list": [
                    {"unit": u, "floors": b.floors, **({"households": b.floors * 2} if households else {}), "elevators": 1}
                    for u in b.units
                ],
                "custody": self.custody(p, "02", f"LD-{b.no:02d}"),
                "refs": [p.xm],
            })
        # the emergency plan of the project, three years old: its review fell due 280 days before
        # the demo's day, whatever day the demo is built for (docs/duties.md, the tour)
        effective = _add_years(self.cutoff.date() - dt.timedelta(days=REVIEW_OVERDUE_DAYS), -3)
        p.plan = self.new("AQ", p.loc, {
            "title": f"{p.name}消防及突發事件綜合應急預案（{effective.year}版）",
            "status": "active",
            "opened": _d(effective),
            "kind": "emergency_plan",
            "hazard": "fire",
            "plan_version": f"{effective.year}版",
            "effective": _d(effective),
            "review_due": _d(_add_years(effective, 3)),
            "responsible": p.manager,
            "custody": self.custody(p, "07", "AQ-01"),
        })

    def onboard_rooms(self, project: Project) -> None:
        p = project
        handover = p.managed_from + dt.timedelta(days=20)
        owners = {id(r) for r in self.pick(p.rooms, self.profile.owner_share, self._showcase_room)}
        for room in p.rooms:
            b = room.building
            assert b is not None
            if p.kind == "residential":
                status = self.rng.choices(("occupied", "rented", "vacant"), (70, 20, 10))[0]
                inner = _money(room.area * 0.81)
                fields: dict[str, Any] = {
                    "title": f"{p.place(b, room=room)}房屋檔案",
                    "status": status,
                    "opened": _d(handover),
                    "room_no": f"{b.no}-{int(room.loc.parts[2])}-{room.loc.parts[3]}",
                    "floor": room.floor,
                    "use": "residential",
                    "layout": {89.56: "2室2廳1衛", 96.32: "3室1廳1衛", 118.75: "3室2廳2衛", 128.4: "3室2廳2衛", 143.9: "4室2廳2衛"}[room.area],
                    "orientation": "south_north",
                    "gross_area": room.area,
                    "inner_area": inner,
                    "shared_area": _money(room.area - inner),
                    "delivery_standard": "fitted",
                    "handover": {
                        "handed_over": _d(handover),
                        "keys_issued": 3,
                        "acceptance": "accepted",
                    },
                    "warranty_until": _d(_add_years(handover, 2)),
                }
            else:
                status = self.rng.choices(("rented", "vacant"), (85, 15))[0]
                if p.ptype == "public":
                    status = "occupied"  # departments of the institution itself
                fields = {
                    "title": f"{p.name}{p.place(b, room=room)}房屋檔案",
                    "status": status,
                    "opened": _d(handover),
                    "room_no": room.loc.parts[3],
                    "floor": room.floor,
                    "use": room.use,
                    "gross_area": room.area,
                    "delivery_standard": "shell",
                    "handover": {"handed_over": _d(handover), "keys_issued": 2, "acceptance": "accepted"},
                }
            fields["custody"] = self.custody(p, "03", f"FW-{b.no:02d}-{room.loc.parts[2]}")
            fields["refs"] = [b.ld]
            room.fw = self.new("FW", room.loc, fields)
            if p.kind == "residential" and id(room) in owners:
                purchased = handover - dt.timedelta(days=self.rng.randint(60, 400))
                residence = "rented_out" if status == "rented" else ("vacant" if status == "vacant" else "owner_occupied")
                holders = [self.people.owner()]
                if self.people.rng.random() < 0.45:
                    holders.append(self.people.owner("co_owner"))
                owner: dict[str, Any] = {
                    "title": f"{p.place(b, room=room)}業主檔案",
                    "status": "active",
                    "opened": _d(handover),
                    "owners": holders,
                    "title_deed_no": self.people.title_deed(handover.year),
                    "acquisition": "purchase",
                    "purchased": _d(purchased),
                    "residence": residence,
                    "notice_channel": self.rng.choice(("sms", "wechat", "notice_board")),
                    "refs": [room.fw],
                }
                if residence == "owner_occupied":
                    owner["moved_in"] = _d(handover + dt.timedelta(days=self.rng.randint(30, 300)))
                    if self.people.rng.random() < 0.5:
                        owner["emergency_contact"] = self.people.contact(holders[0]["name"])
                if self.rng.random() < 0.5:
                    owner["parking_spaces"] = [{"space_no": f"B1-{self.rng.randint(1, 400):03d}", "tenure": "owned", "space_area": 13.2}]
                room.owner = self.new("YZ", room.loc, owner)
                room.owner_name = holders[0]["name"]
                if residence == "rented_out" and self.people.rng.random() < self.profile.lease_share:
                    # the current one-year lease, started on an anniversary of the first
                    start = handover + dt.timedelta(days=self.people.rng.randint(20, 90))
                    while _add_years(start, 1) <= self.now.date():
                        start = _add_years(start, 1)
                    if start <= self.now.date():
                        self._home_lease(p, room, start)
            elif p.kind == "commercial" and status == "rented":
                month = self.now.date().replace(day=1)
                start = max(handover, _add_years(month, -self.rng.randint(0, 2)).replace(month=self.rng.randint(1, 12)))
                self._lease(p, room, min(start, month))


    def _lease(self, p: Project, room: Room, start: dt.date, shop: tuple[str, ...] | None = None) -> None:
        if shop is None:
            name, trade = self.rng.choice(SHOPS if p.ptype == "commercial" else INDUSTRIAL_TENANTS)
            kind = {"catering": "餐飲管理", "retail": "商貿", "entertainment": "文化娛樂", "services": "生活服務",
                    "office": "科技", "other": "供應鏈管理"}[trade]
            # the tenant: a company with an invented credit code and a contact's mobile
            shop = (name, trade, f"蘇州{name}{kind}有限公司", self.people.credit_code(), self.people.phone(),
                    f"{self.people.rng.randint(20, 60) * room.area:.2f}")
        name, trade, company, credit, phone, rent = shop
        end = _add_years(start, 3) - dt.timedelta(days=1)
        rate = 8.0 if p.subtype != "office" else 6.5
        code = self.new("ZH", room.loc, {
            "title": f"{p.place(room.building, room=room)}{'商鋪' if p.ptype == 'commercial' else '廠房'}租賃（{name}）",  # type: ignore[arg-type]
            "status": "active",
            "opened": _d(start),
            "tenant_kind": "organisation",
            "tenant_name": company,
            "id_type": "business_licence",
            "id_number": credit,
            "phone": phone,
            "business_name": name,
            "trade": trade,
            "use": "commercial" if p.ptype == "commercial" else ("office" if trade == "office" else "storage"),
            "leased_area": room.area,
            "lease_start": _d(start),
            "lease_end": _d(end),
            "monthly_rent": rent,
            "deposit": f"{float(rent) * 3:.2f}",
            "fees": [
                {"fee_item": "property_management", "amount": _money(room.area * rate), "period": "monthly"},
                {"fee_item": "promotion", "amount": 200, "period": "monthly"},
            ],
            "refs": [room.fw],
        })
        # at the end of the term the lease expires and the tenant signs a new one
        self.at(_at(end + dt.timedelta(days=1), 10), self._renew_lease, p, room, code, end, shop)

    def _renew_lease(self, p: Project, room: Room, code: str, end: dt.date, shop: tuple[str, ...]) -> None:
        self.set(code, {"status": "expired", "closed": _d(end)})
        self._lease(p, room, end + dt.timedelta(days=1), shop)

    def _home_lease(self, p: Project, room: Room, start: dt.date, tenant: dict[str, str] | None = None) -> None:
        """A flat let by its owner: a one-year lease filed with the tenant's particulars."""
        b = room.building
        assert b is not None
        if tenant is None:
            tenant = {"tenant_name": self.people.name(), "id_number": self.people.id_number(), "phone": self.people.phone()}
        rent = 30 + 5 * self.people.rng.randint(0, 4)
        end = _add_years(start, 1) - dt.timedelta(days=1)
        code = self.new("ZH", room.loc, {
            "title": f"{p.place(b, room=room)}住宅租賃登記",
            "status": "active",
            "opened": _d(start),
            "tenant_kind": "person",
            "tenant_name": tenant["tenant_name"],
            "id_type": "id_card",
            "id_number": tenant["id_number"],
            "phone": tenant["phone"],
            "landlord_name": room.owner_name,
            "use": "residential",
            "leased_area": room.area,
            "lease_start": _d(start),
            "lease_end": _d(end),
            "monthly_rent": f"{rent * room.area:.2f}",
            "deposit": f"{2 * rent * room.area:.2f}",
            "occupants": self.people.rng.randint(1, 4),
            "refs": [room.fw, room.owner],
        })
        self.at(_at(end + dt.timedelta(days=1), 10), self._home_lease_ends, p, room, code, end, tenant)

    def _home_lease_ends(self, p: Project, room: Room, code: str, end: dt.date, tenant: dict[str, str]) -> None:
        if self.trees[room.owner]["status"] != "active" or self.trees[code]["landlord_name"] != room.owner_name:
            self.set(code, {"status": "terminated", "closed": _d(self.now), "moved_out": _d(self.now)})
            return
        renew = self.people.rng.random() < 0.6
        self.set(code, {"status": "expired", "closed": _d(end), **({} if renew else {"moved_out": _d(end)})})
        if renew:
            self._home_lease(p, room, end + dt.timedelta(days=1), tenant)


    def onboard_equipment(self, project: Project) -> None:
        p = project
        installed = p.managed_from - dt.timedelta(days=120)
        roles = ["fire_pump", "transformer", "water_pumps"] if p.kind == "residential" else ["fire_pump", "transformer", "chiller", "ahu"]
        for role in roles:
            system, kind, model, maker, where, power, interval, contractor = EQUIPMENT[role]
            fields: dict[str, Any] = {
                "title": f"{p.name}{kind}",
                "status": "in_service",
                "opened": _d(p.managed_from),
                "system": system,
                "equipment_type": kind,
                "asset_no": f"AH-{p.code}-{role.upper().replace('_', '')[:4]}-{len(p.equipment) + 1:02d}",
                "model": model,
                "manufacturer": maker,
                "serial_no": f"{maker[:2]}{installed.year}{self.rng.randint(1000, 9999)}",
                "quantity": 2 if role in ("fire_pump", "chiller") else 1,
                "install_location": f"{p.name}{where}",
                "installed": _d(installed),
                "warranty_until": _d(_add_years(installed, 2)),
                "maintenance_interval": interval,
                "maintenance_contractor": contractor or COMPANY,
                "custody": self.custody(p, "04", f"SB-{role[:2].upper()}"),
            }
            if role == "transformer":
                fields["capacity"] = "1250 kVA"
            else:
                fields["rated_power_kw"] = power
            if role == "fire_pump":
                expires = self._first_expiry(self.cutoff.date() + dt.timedelta(days=self.rng.randint(40, 340)))
                last = _add_years(expires, -1)
                fields.update({
                    "inspection_certificate_no": f"蘇消檢{last.year}-{self.rng.randint(1000, 9999)}",
                    "inspection_body": "蘇州市消防設施檢測中心",
                    "inspection_date": _d(last),
                    "inspection_expires": _d(expires),
                })
            p.equipment[role] = self.new("SB", p.loc, fields)
            if role == "fire_pump":
                self._schedule_inspections(p.equipment[role], expires, "蘇消檢")
        for b in p.buildings:
            lifts = [(u, "elevator") for u in b.units] if p.kind == "residential" else [("001", "elevator"), ("001", "elevator"), ("001", "escalator"), ("001", "escalator")]
            for n, (unit, system) in enumerate(lifts, start=1):
                escalator = system == "escalator"
                # each lift has its own yearly inspection date; A01's first lift is due soon
                showcase = p.code == "A01" and b.no == 1 and n == 1
                days = 19 if showcase else self.rng.randint(40, 340)
                expires = self._first_expiry(self.cutoff.date() + dt.timedelta(days=days))
                inspected = _add_years(expires, -1) + dt.timedelta(days=self.rng.randint(1, 12))
                name = f"{b.no}號自動扶梯" if escalator else f"{b.no}號樓{n}號客梯"
                if p.kind == "residential":
                    name = f"{b.no}棟{int(unit)}單元乘客電梯"
                fields = {
                    "title": f"{p.name}{name}",
                    "status": "in_service",
                    "opened": _d(p.managed_from),
                    "system": system,
                    "equipment_type": "自動扶梯" if escalator else "曳引式乘客電梯",
                    "asset_no": f"AH-{p.code}-DT-{b.no:02d}{n:02d}",
                    "model": "HDE-30/1000" if escalator else "HDK-1000/1.75",
                    "manufacturer": "蘇州恒達電梯有限公司",
                    "serial_no": f"HD{installed.year}{b.no:02d}{n:02d}{self.rng.randint(10, 99)}",
                    "install_location": f"{p.place(b, unit if not escalator and p.kind == 'residential' else None)}{'中庭' if escalator else '電梯井'}",
                    "installed": _d(installed),
                    "warranty_until": _d(_add_years(installed, 2)),
                    "rated_speed": 0.5 if escalator else 1.75,
                    **({} if escalator else {"rated_load_kg": 1000, "stops": b.floors + 1}),
                    "maintenance_interval": 15,
                    "maintenance_contractor": ELEVATOR_CO,
                    "registration_no": f"梯11320506{installed.year}{b.no:02d}{n:03d}",
                    "inspection_certificate_no": f"TSX-DT-{inspected.year}-{self.rng.randint(1000, 9999)}",
                    "inspection_body": INSPECTION_BODY,
                    "inspection_date": _d(inspected),
                    "inspection_expires": _d(expires),
                    "custody": self.custody(p, "04", "SB-DT"),
                }
                code = self.new("SB", b.loc, fields)
                (b.escalators if escalator else b.elevators).append(code)
                if showcase:
                    self.examples["equipment"] = code
                # yearly inspection by the special-equipment inspection institute
                self._schedule_inspections(code, expires, "TSX-DT-")


    def _first_expiry(self, target: dt.date) -> dt.date:
        """`target` moved back by whole years to the first expiry after onboarding."""
        while _add_years(target, -1) - dt.timedelta(days=LEAD_DAYS[1] + 1) > self.now.date():
            target = _add_years(target, -1)
        return target

    def _schedule_inspections(self, code: str, expires: dt.date, prefix: str) -> None:
        while True:
            renewal = expires - dt.timedelta(days=self.rng.randint(*LEAD_DAYS))
            if _at(renewal, 16) >= self.cutoff:
                return
            self.at(_at(renewal, 16), self._inspected, code, prefix)
            expires = _add_years(expires, 1)

    def _inspected(self, code: str, prefix: str) -> None:
        old = dt.date.fromisoformat(self.trees[code]["inspection_expires"])
        self.set(code, {
            "inspection_certificate_no": f"{prefix}{self.now.year}-{self.rng.randint(1000, 9999)}",
            "inspection_date": _d(self.now),
            "inspection_expires": _d(_add_years(old, 1)),
        })

    def onboard_contracts(self, project: Project) -> None:
        p = project
        # the property service contract: three years, renewed inside the demo window
        end = dt.date(self.start.year + 1, 5 + (int(p.code[1:]) % 4), 1) - dt.timedelta(days=1)
        start = _add_years(end + dt.timedelta(days=1), -3)
        p.contracts["property"] = self._service_contract(p, start, end, "active", start - dt.timedelta(days=20))
        renew_signed = end - dt.timedelta(days=self.rng.randint(20, 40))
        self.at(_at(renew_signed, 14), self._renew_service_contract, p, end)
        self.at(_at(end + dt.timedelta(days=1), 9), self._expire, p.contracts["property"], end)
        # subcontracts for whole years, renewed when they run out; their terms begin on the
        # day CONTRACT_ENDS_IN after the demo's day less one, so that the two-year ones in force
        # end CONTRACT_ENDS_IN days after it, whatever day the demo is built for (the tour's
        # `dangan due`): the renewal, two weeks before, has not been signed yet
        subjects = ["elevator"] + (["hvac", "cleaning"] if p.kind == "commercial" else [])
        last_start = self._term_start((self.cutoff.date() + dt.timedelta(days=CONTRACT_ENDS_IN + 1)).year)
        for subject in subjects:
            years, lag = SUBCONTRACTS[subject][2], SUBCONTRACTS[subject][3]
            first = last_start.year - lag
            while self._term_start(first) > self.now.date():
                first -= years
            p.contracts[subject] = self._subcontract(p, subject, first)
            for nxt in range(first + years, self.cutoff.year + 2, years):
                begins = self._term_start(nxt)
                renewal = max(_at(begins - dt.timedelta(days=14), 15), self.now + dt.timedelta(hours=1))
                self.at(renewal, self._renew_subcontract, p, subject, nxt)
                self.at(_at(begins + dt.timedelta(days=1), 9), self._expire_current, p, subject,
                        begins - dt.timedelta(days=1))

    def _term_start(self, year: int) -> dt.date:
        """The first day of a subcontract's term that begins in `year` (see onboard_contracts)."""
        anchor = self.cutoff.date() + dt.timedelta(days=CONTRACT_ENDS_IN + 1)
        return dt.date(year, anchor.month, min(anchor.day, 28))

    def _service_contract(self, p: Project, start: dt.date, end: dt.date, status: str, signed: dt.date) -> str:
        party_a = f"{p.name}業主委員會" if p.kind == "residential" else p.developer
        rates = (
            [{"property_use": "residential", "unit_price": 2.8, "unit": "m2_month"},
             {"property_use": "parking", "unit_price": 80, "unit": "space_month"}]
            if p.kind == "residential"
            else [{"property_use": "shop", "unit_price": 8.0, "unit": "m2_month"},
                  {"property_use": "office", "unit_price": 6.5, "unit": "m2_month"}]
        )
        return self.new("HT", p.loc, {
            "title": f"{p.name}物業服務合同（{start.year}-{end.year}）",
            "status": status,
            "opened": _d(signed),
            "contract_no": f"AH-WY-{start.year}-{p.code}",
            "contract_type": "property_service",
            "subject": "other",
            "party_a": party_a,
            "party_b": COMPANY,
            "signed": _d(signed),
            "start": _d(start),
            "end": _d(end),
            "service_scope": "共用部位及共用設施設備的維修養護、公共秩序維護、保潔綠化、客戶服務及檔案管理。",
            "service_standard": "江蘇省住宅物業服務標準二級" if p.kind == "residential" else "商業物業服務標準一級",
            "fee_model": "lump_sum",
            "fee_rates": rates,
            "payment_terms": "按年預收，每年1月31日前繳清",
            "auto_renewal": False,
            "custody": self.custody(p, "01", "HT-01"),
            "refs": [p.xm],
        })

    def _renew_service_contract(self, p: Project, old_end: dt.date) -> None:
        start = old_end + dt.timedelta(days=1)
        code = self._service_contract(p, start, _add_years(start, 3) - dt.timedelta(days=1), "draft", self.now.date())
        self.at(_at(start, 9, 30), self.set, code, {"status": "active"})
        self.at(_at(start, 9, 30), p.contracts.__setitem__, "property", code)

    def _subcontract(self, p: Project, subject: str, year: int) -> str:
        party_b, label, years, _ = SUBCONTRACTS[subject]
        begins, ends = self._term_start(year), self._term_start(year + years) - dt.timedelta(days=1)
        refs: list[str] = []
        if subject == "elevator":
            refs = [c for b in p.buildings for c in b.elevators + b.escalators]
        elif subject == "hvac":
            refs = [p.equipment["chiller"], p.equipment["ahu"]]
        signed = min(begins - dt.timedelta(days=14), self.now.date())
        amount = years * {"elevator": 9600 * max(1, len(refs)), "hvac": 186000, "cleaning": 24000 * len(p.buildings) + 60000}[subject]
        scope = {
            "elevator": f"{len(refs)}台電梯的半月保養、季度保養、年度保養及24小時應急救援。",
            "hvac": "冷水機組、空調機組及冷卻塔的日常運行維護、換季保養和故障搶修。",
            "cleaning": "公共區域日常保潔、垃圾分類清運、外立面及玻璃幕牆定期清洗。",
        }[subject]
        return self.new("HT", p.loc, {
            "title": f"{p.name}{label}合同（{begins.year}-{ends.year}年度）",
            "status": "active",
            "opened": _d(signed),
            "contract_no": f"AH-WB-{begins.year}-{p.code}-{subject[:2].upper()}",
            "contract_type": "subcontract",
            "subject": subject,
            "party_a": COMPANY,
            "party_b": party_b,
            "signed": _d(signed),
            "start": _d(begins),
            "end": _d(ends),
            "service_scope": scope,
            "fee_model": "fixed_price",
            "contract_amount": amount,
            "payment_terms": "按季度支付",
            "auto_renewal": False,
            "custody": self.custody(p, "01", "HT-02"),
            **({"refs": refs} if refs else {}),
        })

    def _renew_subcontract(self, p: Project, subject: str, year: int) -> None:
        code = self._subcontract(p, subject, year)
        self.at(_at(self._term_start(year) + dt.timedelta(days=1), 9, 30), p.contracts.__setitem__, subject, code)

    def _expire_current(self, p: Project, subject: str, end: dt.date) -> None:
        self._expire(p.contracts[subject], end)

    def _expire(self, code: str, end: dt.date) -> None:
        self.set(code, {"status": "expired", "closed": _d(end)})

    # ------------------------------------------------------ monthly activity
    def schedule_activity(self, p: Project) -> None:
        months = _months(self.activity_start.date(), self.cutoff.date())
        prof = self.profile

        def sched(when: dt.datetime, fn: Callable[..., None], *args: Any) -> None:
            if when >= self.activity_start:  # after the onboarding of the archives
                self.at(when, fn, *args)
        for month in months:
            lo = max(_at(month, 0), self.activity_start)
            hi = _at(_month_end(month), 18)
            if lo >= self.cutoff:
                continue
            buildings = len(p.buildings) if p.kind == "residential" else 2
            for _ in range(self._count(prof.repairs * buildings)):
                sched(self.day(lo, hi), self.private_repair, p)
            for _ in range(self._count(prof.common_repairs)):
                sched(self.day(lo, hi), self.common_repair, p)
            for _ in range(self._count(prof.complaints)):
                sched(self.day(lo, hi), self.complaint, p)
            if p.kind == "residential":
                for _ in range(self._count(prof.decorations)):
                    sched(self.day(lo, hi), self.decoration, p)
            if month.month % (12 // prof.inspections) == 0:  # fire inspection rounds
                sched(self.day(_at(month.replace(day=3), 0), _at(month.replace(day=9), 18)), self.fire_inspection, p)
            if month.month % 6 == 0:  # scheduled upkeep of the big plant, twice a year
                sched(self.day(_at(month.replace(day=10), 0), _at(month.replace(day=25), 18)), self.upkeep, p, month.year * 2 + month.month // 6)
            if p.kind == "residential" and month.month in (5, 11):
                cleaning = self.day(_at(month.replace(day=10), 0), _at(month.replace(day=20), 18))
                sched(cleaning, self.tank_cleaning, p)
                sched(_at(cleaning.date() - dt.timedelta(days=2), 16), self.tank_notice, p, cleaning)  # 停水通知
            if p.kind == "residential" and month.month in (4, 8)[: 1 if prof.rooms else 2]:
                sched(self.day(_at(month.replace(day=5), 0), _at(month.replace(day=15), 18)), self.pest_control, p, month.month)
            if p.kind == "commercial" and month.month == 10:
                sched(self.day(_at(month.replace(day=8), 0), _at(month.replace(day=20), 18)), self.facade_cleaning, p)
            if month.month == 11:
                sched(_at(month.replace(day=9 + int(p.code[1:]) % 5), 9, 30), self.drill, p, "fire")
            if p.kind == "commercial" and month.month == 6:
                sched(_at(month.replace(day=18), 14), self.drill, p, "elevator")
                sched(_at(month.replace(day=16), 16), self.drill_notice, p, _at(month.replace(day=18), 14))
            if month.month == 3:
                if p.kind == "commercial":
                    sched(_at(month.replace(day=12 + int(p.code[1:]) % 5), 14), self.training, p)
                sched(_at(month.replace(day=10), 10), self.annual_report, p, month.year - 1)
            if month.month == 12:
                sched(_at(month.replace(day=5), 10), self.budget, p, month.year + 1)
            if month.month == 1:
                for room in self.pick(p.rooms, prof.fee_share, self._showcase_room):
                    sched(self.day(_at(month.replace(day=3), 0), _at(month.replace(day=8), 18)), self.fees, p, room, month.year)
        # one safety incident per residential project, somewhere in the middle of the window
        if p.kind == "residential":
            when = self.day(self.start + dt.timedelta(days=300), self.start + dt.timedelta(days=420))
            self.at(when, self.incident, p)
            if len(p.rooms) > 4:
                when = self.day(self.start + dt.timedelta(days=200), self.start + dt.timedelta(days=500))
                self.at(when, self.ownership_transfer, p)

    @staticmethod
    def _showcase_room(room: Room) -> bool:
        return room.loc.parts == ("A01", "02", "001", "0301")

    def _count(self, mean: float) -> int:
        whole = int(mean)
        return whole + (1 if self.rng.random() < mean - whole else 0)

    # ----------------------------------------------------------- repairs

    def _reporter(self) -> tuple[str, str]:
        return self.rng.choice((("phone", "電話報修"), ("app", "業主App報修"), ("wechat", "微信報修"), ("visit", "前台報修")))

    def private_repair(self, p: Project) -> None:
        rooms = p.rooms
        if not rooms:
            return
        room = self.rng.choice(rooms)
        title, trade, fault, done, parts = self.rng.choice(PRIVATE_FAULTS)
        if p.kind == "commercial":
            title, trade, fault, done, parts = self.rng.choice(PRIVATE_FAULTS[:5])
        b = room.building
        assert b is not None
        self._repair(
            p, room.loc, f"{p.place(b, room=room)}{title}", "01", trade, "private", room.fw,
            fault, done, parts, "tenant" if p.kind == "commercial" else "owner", [room.fw],
        )

    def common_repair(self, p: Project) -> None:
        b = self.rng.choice(p.buildings)
        if b.elevators and self.rng.random() < 0.35:
            lift = self.rng.choice(b.elevators)
            title, kind, fault, done = self.rng.choice(LIFT_FAULTS)
            name = self.trees[lift]["title"].replace(p.name, "")
            self._repair(p, b.loc, f"{name}{title}", kind, "elevator", "common", lift, fault, done, [], "contractor", [lift])
            return
        title, trade, fault, done, parts = self.rng.choice(COMMON_FAULTS)
        where = p.place(b, self.rng.choice(b.units) if p.kind == "residential" else None)
        self._repair(p, b.loc, f"{where}{title}", "01", trade, "common", b.ld, fault, done, parts, "company", [b.ld])

    def _repair(
        self, p: Project, loc: Location, title: str, kind: str, trade: str, scope: str, target: str,
        fault: str, done: str, parts: list[tuple[str, str, float, str, float]], charged_to: str,
        refs: list[str], *, assigned: dt.datetime | None = None, finished: dt.datetime | None = None,
        closed: dt.datetime | None = None, extra: dict[str, Any] | None = None,
    ) -> str:
        reported = self.now
        channel, _ = self._reporter()
        if kind == "03":
            channel = "plan"
        assignee = self.rng.choice(TECHNICIANS) if trade not in ("elevator",) else f"{ELEVATOR_CO[2:6]}維保組"
        assigned = assigned or self.later(reported, 0.1, 0.5)
        code = self.new("WX", loc, {
            "title": title,
            "status": "assigned",
            "opened": _d(reported),
            "kind": kind,
            "trade": trade,
            "scope": scope,
            "target": target,
            "reported_at": _t(reported),
            "channel": channel,
            "fault": fault,
            "assignee": assignee,
            "assigned_at": _t(assigned),
            **(extra or {}),
            "refs": refs,
        })
        urgent = kind == "02"
        if finished is None:
            started = self.later(assigned, 0.2, 1) if urgent else self.later(assigned, 2, 40)
            finished = self.later(started, 0.3, 3)
        else:
            started = max(assigned, finished - dt.timedelta(minutes=self.rng.choice((40, 60, 90, 120))))
        part_list = [
            {"item": item, "spec": spec, "quantity": qty, "unit": unit, "unit_cost": cost}
            for item, spec, qty, unit, cost in parts
        ]
        labour = 0 if charged_to in ("contractor", "company") else self.rng.choice((30, 50, 80))
        cost = _money(labour + sum(q * c for _, _, q, _, c in parts))
        done_fields: dict[str, Any] = {
            "status": "done",
            "started": _t(started),
            "finished": _t(finished),
            "work_done": done,
            **({"parts": part_list} if part_list else {}),
            "labour_cost": labour,
            "cost": cost,
            "charged_to": charged_to,
            "result": "replaced" if part_list and self.rng.random() < 0.5 else "fixed",
        }
        self.at(finished, self.set, code, done_fields)
        closed = closed or self.later(finished, 20, 120)
        self.at(closed, self.set, code, {
            "status": "closed",
            "closed": _d(closed),
            "satisfaction": self.rng.choices((5, 4, 3), (70, 25, 5))[0],
        })
        return code


    def upkeep(self, p: Project, turn: int) -> None:
        plan = UPKEEP[p.kind]
        role, trade, title, fault, done = plan[turn % len(plan)]
        target = p.equipment[role]
        finished = self.later(self.now, 1.5, 3)
        self._repair(
            p, p.loc, f"{title}（{self.now.year}年{self.now.month}月）", "03", trade, "common", target, fault, done, [],
            "contractor" if self.trees[target]["maintenance_contractor"] != COMPANY else "company", [target],
            assigned=self.now, finished=finished, closed=finished + dt.timedelta(hours=2),
            extra={"scheduled_for": _d(self.now)},
        )

    # ---------------------------------------------------------- complaints

    def complaint(self, p: Project, spec: tuple[str, str, str, str, str] | None = None,
                  room: Room | None = None, resolve: bool = True, refs: list[str] | None = None) -> str:
        kind, subject, title, description, result = spec or self.rng.choice(COMPLAINTS)
        b = room.building if room is not None else self.rng.choice(p.buildings)
        assert b is not None
        if room is None and p.rooms and self.rng.random() < 0.7:
            room = self.rng.choice(b.rooms)
        if room is not None:
            loc, where, refs = room.loc, p.place(b, room=room), refs or [room.fw]
        else:
            loc, where, refs = b.loc, p.place(b), refs or [b.ld]
        received = self.now
        channel = self.rng.choice(("phone", "visit", "app", "wechat", "hotline_12345"))
        handler = f"{p.service}（客服）"
        # most people leave a name and a number (encrypted); some stay anonymous
        anonymous = spec is None and self.people.rng.random() < 0.15
        who: dict[str, Any] = {}
        if not anonymous:
            name = room.owner_name if room is not None and room.owner_name and self.people.rng.random() < 0.7 else self.people.name()
            who = {"complainant": {"name": name, "phone": self.people.phone()}}
        code = self.new("TS", loc, {
            "title": f"{where}{title}",
            "status": "open",
            "opened": _d(received),
            "kind": kind,
            "channel": channel,
            "received_at": _t(received),
            "subject": subject,
            "description": description,
            "anonymous": anonymous,
            **who,
            "handler": handler,
            "deadline": _d(received + dt.timedelta(days=2)),
            "actions": [{"at": _t(self.later(received, 0.1, 0.5)), "by": handler, "step": "acknowledge", "detail": "登記並告知處理時限。"}],
            "refs": refs,
        })
        if not resolve:
            return code
        visit = self.later(received, 1, 20)
        resolved = self.later(visit, 2, 48)
        self.at(resolved, self.set, code, {
            "status": "resolved",
            "actions": _Append(
                {"at": _t(visit), "by": handler, "step": "site_visit", "detail": "上門或現場核實情況。"},
                {"at": _t(resolved), "by": handler, "step": "reply", "detail": "向反映人回覆處理結果。"},
            ),
            "justified": kind == "complaint",
            "result": result,
            "resolved_at": _t(resolved),
        })
        closed = self.later(resolved, 48, 160)
        self.at(closed, self.set, code, {
            "status": "closed",
            "closed": _d(closed),
            "return_visit": {"visited_at": _t(closed), "visited_by": handler, "visit_channel": "phone", "feedback": "對處理結果表示認可。"},
            "satisfaction": self.rng.choices((5, 4, 3, 2), (50, 35, 10, 5))[0],
        })
        return code

    # --------------------------------------------------------- decoration
    def decoration(self, p: Project, room: Room | None = None, finish: bool = True) -> str:
        room = room or self.rng.choice(p.rooms)
        b = room.building
        assert b is not None
        applied = self.now
        start = applied.date() + dt.timedelta(days=self.rng.randint(5, 12))
        end = start + dt.timedelta(days=self.rng.randint(45, 90))
        code = self.new("ZX", room.loc, {
            "title": f"{p.place(b, room=room)}裝修申請",
            "status": "applied",
            "opened": _d(applied),
            "applicant_role": "owner",
            "contractor": self.rng.choice(("蘇州美居裝飾工程有限公司", "蘇州家和裝飾設計有限公司", "蘇州金螳螂家裝有限公司")),
            "works": self.rng.sample(["walls", "floors", "kitchen", "bathroom", "waterproofing", "electrical", "doors_windows"], 3),
            "touches_structure": False,
            "description": "局部翻新，不改動承重牆及外立面。",
            "planned_start": _d(start),
            "planned_end": _d(end),
            "workers": self.rng.randint(3, 8),
            "deposit": 2000,
            "refs": [room.fw],
        })
        approved = self.later(applied, 24, 72)
        permit = f"ZX-{p.code}-{approved.year}-{self.rng.randint(100, 999)}"
        self.at(approved, self.set, code, {
            "status": "approved",
            "permit_no": permit,
            "approval": {"decided_by": p.manager, "decided_on": _d(approved), "decision": "approved_with_conditions",
                         "conditions": "施工時間為8:00-12:00及14:00-18:00；衛生間閉水試驗48小時。"},
        })
        self.at(_at(start, 8, 30), self.set, code, {"status": "in_progress"})
        if not finish:
            return code
        final = _at(end + dt.timedelta(days=self.rng.randint(0, 10)), 10)
        self.at(final, self.set, code, {
            "status": "accepted",
            "actual_end": _d(end),
            "inspections": _Append({"inspected_on": _d(final), "inspector": p.engineer, "stage": "final", "outcome": "passed"}),
        })
        refund = final + dt.timedelta(days=self.rng.randint(20, 40))
        self.at(refund, self.set, code, {"status": "closed", "closed": _d(refund), "deposit_refunded": _d(refund)})
        return code

    # ------------------------------------------------------- inspections
    def fire_inspection(self, p: Project) -> None:
        finished = self.now  # the round is filed when it is finished
        started = finished - dt.timedelta(minutes=self.rng.choice((120, 150, 170, 180)))
        points = ["消防泵房", "消防控制室"] + [f"{p.place(b)}消火栓箱及疏散通道" for b in p.buildings[:4]]
        abnormal = self.rng.random() < 0.35
        checkpoints = [{"point": point, "state": "normal"} for point in points]
        fields: dict[str, Any] = {
            "title": f"{started.year}年{started.month}月消防設施{'季度' if self.profile.inspections == 4 else '定期'}檢查",
            "status": "closed",
            "opened": _d(started),
            "closed": _d(finished),
            "round_type": "fire_inspection",
            "route": "、".join(points),
            "started_at": _t(started),
            "finished_at": _t(finished),
            "inspector": f"{p.fire}（消防主管）",
            "reviewer": p.manager,
            "checkpoints": checkpoints,
            "refs": [p.equipment["fire_pump"]],
        }
        if abnormal:
            spot = self.rng.choice(checkpoints[2:] or checkpoints)
            spot["state"] = "abnormal"
            spot["remark"] = "堆放紙箱雜物"
            fields["status"] = "follow_up"
            del fields["closed"]
            fields["findings"] = [{"finding": f"{spot['point']}堆放雜物。", "severity": "major", "action": "當面告知並張貼整改通知。"}]
        code = self.new("XJ", p.loc, fields)
        if abnormal:
            fixed = self.later(finished, 20, 50)
            findings = copy.deepcopy(fields["findings"])
            findings[0]["rectified"] = _d(fixed)
            self.at(fixed, self.set, code, {"status": "closed", "closed": _d(fixed), "findings": findings})

    # ------------------------------------------------- environment (HJ)
    def tank_cleaning(self, p: Project) -> None:
        half = "上半年" if self.now.month <= 6 else "下半年"
        code = self.new("HJ", p.loc, {
            "title": f"{self.now.year}年{half}二次供水水箱清洗消毒",
            "status": "done",
            "opened": _d(self.now),
            "work_type": "tank_cleaning",
            "period_start": _d(self.now),
            "period_end": _d(self.now),
            "areas": [f"{p.name}地下一層水泵房不鏽鋼水箱"],
            "performed_by": WATER_CO,
            "tasks": ["排空", "清洗", "消毒", "沖洗", "注水"],
            "chemicals": [{"chemical": "二氧化氯消毒劑", "dosage": 1.2, "unit": "kg", "notice_posted": True}],
            "checked_by": p.engineer,
            "refs": [p.equipment["water_pumps"]],
        })
        tested = _at(self.now.date() + dt.timedelta(days=6), 15)
        self.at(tested, self.set, code, {
            "status": "closed",
            "closed": _d(tested),
            "water_test": {"tested_on": _d(tested), "lab": f"蘇州市{p.district}疾病預防控制中心", "report_no": f"JK-{tested.year}-{self.rng.randint(1000, 9999)}", "passed": True},
            "result": "水質檢測合格，檢測報告張貼於各單元公告欄。",
        })

    def pest_control(self, p: Project, month: int) -> None:
        target, chemical = ("鼠類", "溴敵隆毒餌") if month == 4 else ("蚊蠅", "高效氯氰菊酯")
        self.new("HJ", p.loc, {
            "title": f"{self.now.year}年{'春季滅鼠' if month == 4 else '夏季滅蚊蠅'}消殺",
            "status": "closed",
            "opened": _d(self.now),
            "closed": _d(self.now),
            "work_type": "pest_control",
            "period_start": _d(self.now),
            "period_end": _d(self.now),
            "areas": ["綠化帶", "地下車庫", "垃圾分類亭"] if p.kind == "residential" else ["後廚通道", "地下車庫", "垃圾房"],
            "performed_by": PEST_CO,
            "tasks": ["投放藥劑", "張貼告示", "效果複查"],
            "chemicals": [{"chemical": chemical, "target_pest": target, "dosage": 2, "unit": "kg", "notice_posted": True}],
            "checked_by": p.engineer,
            "quality_score": self.rng.choice((90, 92, 95)),
        })

    def facade_cleaning(self, p: Project) -> None:
        self.new("HJ", p.loc, {
            "title": f"{self.now.year}年度外立面及玻璃幕牆清洗",
            "status": "closed",
            "opened": _d(self.now),
            "closed": _d(self.now),
            "work_type": "facade_cleaning",
            "period_start": _d(self.now),
            "areas": [f"{p.name}外立面", "玻璃幕牆"],
            "performed_by": CLEAN_CO,
            "contract": p.contracts["cleaning"],
            "tasks": ["高空吊籃作業", "幕牆清洗", "驗收"],
            "checked_by": p.engineer,
            "quality_score": 93,
            "refs": [p.contracts["cleaning"]],
        })

    # ----------------------------------------------------------- safety (AQ)
    def drill(self, p: Project, hazard: str) -> None:
        topic = "模擬火情，住戶疏散與初期滅火" if hazard == "fire" else "電梯困人應急救援"
        self.new("AQ", p.loc, {
            "title": f"{self.now.year}年度{'消防疏散' if hazard == 'fire' else '電梯困人'}演練",
            "status": "closed",
            "opened": _d(self.now),
            "closed": _d(self.now),
            "kind": "drill",
            "hazard": hazard,
            "place": f"{p.name}{p.place(p.buildings[0])}及中心廣場" if hazard == "fire" else f"{p.name}1號樓客梯",
            "plan": p.plan,
            "held_at": _t(self.now),
            "topic": topic,
            "trainer": f"{p.fire}（消防主管）",
            "participants": self.rng.randint(30, 120),
            "hours": 1.5,
            "evaluation": "演練按預案完成，響應及時；廣播音量偏低，已報工程部調整。",
            "refs": [p.plan],
        })

    def training(self, p: Project) -> None:
        self.new("AQ", p.loc, {
            "title": f"{self.now.year}年度安全生產培訓",
            "status": "closed",
            "opened": _d(self.now),
            "closed": _d(self.now),
            "kind": "training",
            "held_at": _t(self.now),
            "topic": "消防設施操作、有限空間作業及高處作業安全",
            "trainer": f"{p.fire}（消防主管）",
            "participants": self.rng.randint(20, 60),
            "hours": 2,
        })

    def incident(self, p: Project) -> None:
        b = p.buildings[min(1, len(p.buildings) - 1)]
        code = self.new("AQ", b.loc, {
            "title": f"{p.place(b)}地下車庫滑倒受傷事件",
            "status": "investigating",
            "opened": _d(self.now),
            "kind": "incident",
            "hazard": "fall",
            "occurred_at": _t(self.now),
            "place": f"{p.place(b)}地下車庫入口坡道",
            "severity": "minor",
            "injuries": 1,
            "fatalities": 0,
            "responsible": p.manager,
        })
        closed = self.later(self.now, 24 * 10, 24 * 20)
        self.at(closed, self.set, code, {
            "status": "closed",
            "closed": _d(closed),
            "losses": 860,
            "cause": "車庫入口坡道雨天積水未及時清掃。",
            "measures": "送醫處理；坡道加鋪防滑墊，雨天每小時巡查。",
            "reported_to": ["保險公司"],
        })

    # ---------------------------------------------------------- finance
    def fees(self, p: Project, room: Room, year: int) -> None:
        b = room.building
        assert b is not None
        price = 2.8 if p.kind == "residential" else 8.0
        amount = _money(room.area * price * 12)
        charges = [{"fee_item": "property_management", "billing_month": f"{year}-01", "quantity": room.area,
                    "unit_price": _money(price * 12), "amount": amount, "due": _d(dt.date(year, 1, 31))}]
        code = self.new("SF", room.loc, {
            "title": f"{p.place(b, room=room)}{year}年度收費",
            "status": "open",
            "opened": _d(self.now),
            "period_start": _d(dt.date(year, 1, 1)),
            "period_end": _d(dt.date(year, 12, 31)),
            "billed_area": room.area,
            "charges": charges,
            "total_due": amount,
            "total_paid": 0,
            "arrears": amount,
            "refs": [room.fw],
        })
        if self.rng.random() < 0.85:
            paid = self.day(_at(dt.date(year, 1, 10), 0), _at(dt.date(year, 3, 20), 18))
            self.at(paid, self.set, code, {
                "status": "settled",
                "payments": _Append({"paid_on": _d(paid), "amount": amount, "method": self.rng.choice(("wechat", "alipay", "bank_transfer")),
                                     "receipt_no": f"SJ{year}-{self.rng.randint(1, 99999):06d}"}),
                "total_paid": amount,
                "arrears": 0,
            })
        else:
            reminded = _at(dt.date(year, 4, 8), 10)
            self.at(reminded, self.set, code, {
                "status": "in_arrears",
                "reminders": _Append({"sent_on": _d(reminded), "by": f"{p.service}（客服）", "reminder_method": "notice", "outcome": "已張貼催繳通知"}),
            })
            paid = _at(dt.date(year, 7, self.rng.randint(1, 28)), 11)
            self.at(paid, self.set, code, {
                "status": "settled",
                "payments": _Append({"paid_on": _d(paid), "amount": amount, "method": "wechat"}),
                "total_paid": amount,
                "arrears": 0,
            })

    def annual_report(self, p: Project, fiscal: int) -> None:
        income = _money(self.rng.uniform(480000, 620000) * (3 if p.kind == "commercial" else 1) * max(1, len(p.buildings) / 3))
        spent = _money(income * self.rng.uniform(0.93, 0.99))
        code = self.new("CW", p.loc, {
            "title": f"{p.name}{fiscal}年度財務報告",
            "status": "draft",
            "opened": _d(self.now),
            "report_type": "annual",
            "fiscal_year": fiscal,
            "period_start": _d(dt.date(fiscal, 1, 1)),
            "period_end": _d(dt.date(fiscal, 12, 31)),
            "income": income,
            "expenditure": spent,
            "balance": _money(income - spent),
            "collection_rate": round(self.rng.uniform(91, 97), 1),
            "prepared_by": f"財務部 {p.finance}",
        })
        approved = _at(self.now.date() + dt.timedelta(days=12), 16)
        self.at(approved, self.set, code, {"status": "approved", "approved_by": p.manager})
        audited = _at(self.now.date() + dt.timedelta(days=30), 11)
        self.at(audited, self.set, code, {
            "status": "audited",
            "title": f"{p.name}{fiscal}年度財務報告及審計報告",
            "auditor": "蘇州正信會計師事務所",
            "audit_report_no": f"蘇正信審字({audited.year})第{self.rng.randint(100, 999):04d}號",
            "audit_opinion": "unqualified",
            "disclosed": _d(audited),
        })

    def budget(self, p: Project, year: int) -> None:
        income = _money(self.rng.uniform(500000, 640000) * (3 if p.kind == "commercial" else 1) * max(1, len(p.buildings) / 3))
        code = self.new("CW", p.loc, {
            "title": f"{p.name}{year}年度收支預算",
            "status": "draft",
            "opened": _d(self.now),
            "report_type": "budget",
            "fiscal_year": year,
            "period_start": _d(dt.date(year, 1, 1)),
            "period_end": _d(dt.date(year, 12, 31)),
            "income": income,
            "expenditure": _money(income * 0.96),
            "line_items": [
                {"account": "物業服務費", "direction": "income", "amount": _money(income * 0.88)},
                {"account": "停車服務費", "direction": "income", "amount": _money(income * 0.12)},
                {"account": "人員費用", "direction": "expense", "amount": _money(income * 0.52)},
                {"account": "公共能耗", "direction": "expense", "amount": _money(income * 0.18)},
                {"account": "設施設備維保", "direction": "expense", "amount": _money(income * 0.26)},
            ],
            "prepared_by": f"財務部 {p.finance}",
        })
        self.at(_at(self.now.date() + dt.timedelta(days=15), 16), self.set, code, {"status": "approved", "approved_by": p.manager})

    def ownership_transfer(self, p: Project) -> None:
        rooms = [r for r in p.rooms if r.owner and r.loc.parts[3] != "0301"]
        if not rooms:
            return
        room = self.rng.choice(rooms)
        b = room.building
        assert b is not None
        self.set(room.owner, {"status": "closed", "closed": _d(self.now),
                              "notes": "房屋已轉讓，原業主檔案結案，新業主檔案另行建檔。"})
        owners = [self.people.owner(), self.people.owner("co_owner")]
        room.owner = self.new("YZ", room.loc, {
            "title": f"{p.place(b, room=room)}業主檔案（{self.now.year}年過戶）",
            "status": "active",
            "opened": _d(self.now),
            "owners": owners,
            "title_deed_no": self.people.title_deed(self.now.year),
            "acquisition": "purchase",
            "purchased": _d(self.now - dt.timedelta(days=12)),
            "residence": "owner_occupied",
            "notice_channel": "wechat",
            "emergency_contact": self.people.contact(owners[0]["name"]),
            "refs": [room.fw],
        })
        room.owner_name = owners[0]["name"]

    # ------------------------------------------------------------ showcase
    def schedule_showcase(self) -> None:
        """A few fixed stories at the end of the window, used by the tour."""
        a01 = self.projects[0]
        end = self.cutoff
        b2 = a01.buildings[min(1, len(a01.buildings) - 1)]
        above = next((r for r in b2.rooms if r.loc.parts[2:] == ("001", "0401")), b2.rooms[0])
        below = next((r for r in b2.rooms if r.loc.parts[2:] == ("001", "0301")), b2.rooms[-1])
        self.at(_at((end - dt.timedelta(days=40)).date(), 10, 20), self._showcase_decoration, a01, above)
        self.at(_at((end - dt.timedelta(days=2)).date(), 12, 35), self._showcase_complaint, a01, below, above)
        self.at(_at((end - dt.timedelta(days=6)).date(), 8, 40), self._showcase_repair, a01)

    def _showcase_decoration(self, p: Project, room: Room) -> None:
        self.examples["decoration"] = self.decoration(p, room, finish=False)

    def _showcase_complaint(self, p: Project, room: Room, above: Room) -> None:
        spec = ("complaint", "noise", f"投訴樓上{int(above.loc.parts[3])}室裝修噪音",
                "午休時間樓上裝修電鑽噪音，影響休息。", "")
        refs = [room.fw] + ([self.examples["decoration"]] if "decoration" in self.examples else [])
        self.examples["complaint"] = self.complaint(p, spec, room=room, resolve=False, refs=refs)
        self.examples["room"] = room.fw
        self.examples["owner"] = room.owner

    def _showcase_repair(self, p: Project) -> None:
        lift = self.examples["equipment"]
        b = p.buildings[0]
        name = self.trees[lift]["title"].replace(p.name, "")
        finished = self.now + dt.timedelta(days=1, hours=2)
        self.examples["repair"] = self._repair(
            p, b.loc, f"{name}門機異響", "01", "elevator", "common", lift,
            "轎門開關時有明顯異響。", "調整門機皮帶張力，清潔門導軌並加油。", [], "contractor", [lift],
            finished=finished, closed=self.cutoff + dt.timedelta(days=3),  # the return visit is still to come
        )


# ----------------------------------------------------------------------- API

def write_demo_key(path: Path, secret: str, public: str, who: str) -> None:
    """A demo identity file (0600), labelled on its first line so nobody mistakes it for a
    real key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (f"{DEMO_KEY_LABEL}\n# the key of {who} in the demo vault; anyone who has the "
                      "demo can read its records\n").encode())
    finally:
        os.close(fd)
    agekeys.write_identity_file(path, secret, public)


def build_day(text: str | None) -> dt.date | None:
    """`dangan demo --as-of DAY`: a day in the demo's timezone, not after today."""
    if text is None:
        return None
    from dangan.model.timeutil import parse_day

    day = parse_day(text, TZ)
    if day > dt.datetime.now(TZ).date():
        raise DanganError(Message("--as-of {day} is after today", day=text),
                          Message("the demo's history ends before its build day: give today or an earlier day"))
    return day


def build_demo(
    path: Path,
    size: str = "small",
    *,
    today: dt.date | None = None,
    progress: Callable[[float], None] | None = None,
    check: bool | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """Create a demo vault at `path` (a new or empty directory); return a JSON-able summary.

    `today`: the build day (default: today in Asia/Shanghai); the history covers the two
    years before it, and the records, their history and the tour are a function of that day
    alone (but for ciphertext, keys and the backup's name). A build for a given day is
    built as at its first moment: the backup, the report and the tour's timestamps are dated
    then, not by the clock (what tests and the README's tour compare). `progress(fraction)`
    is called as the simulated time advances (for a progress bar on a terminal).
    `language`: the interface language chosen for the command; with zh-Hans the demo's
    texts are in simplified characters and vault.yaml says `language: zh-Hans`
    (demo/simplified.py), otherwise they are in traditional ones, as they are written.
    """
    if language == "zh-Hans" and not SIMPLIFIED:
        from dangan.demo.simplified import package

        return package().build_demo(path, size, today=today, progress=progress, check=check,  # type: ignore[no-any-return]
                                    language=language)
    if size not in PROFILES:
        raise DanganError(Message("unknown demo size {size}", size=repr(size)),
                          Message("choose one of: {sizes}", sizes=", ".join(PROFILES)))
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise DanganError(Message("{path} exists and is not a directory", path=path),
                              Message("give a new or empty directory"))
        if any(path.iterdir()):
            raise DanganError(Message("{path} exists and is not empty", path=path),
                              Message("give a new or empty directory, e.g. dangan demo ./demo-vault"))
    started = time.monotonic()
    pinned = _at(today, 0) if today is not None else None
    today = today or dt.datetime.now(TZ).date()
    first = _at(today, 0) - dt.timedelta(days=DAYS_OF_HISTORY) + dt.timedelta(hours=9)
    # the demo's recipients: the archivist (whose key is written next to vault.yaml) and an
    # approver; fresh keys for every build
    secret, public = agekeys.generate_identity()
    approver_secret, approver_public = agekeys.generate_identity()
    recipients = [
        {"name": DEMO_ARCHIVIST, "key": public, "roles": ["archivist", "approver"]},
        {"name": DEMO_APPROVER, "key": approver_public, "roles": ["approver"]},
    ]
    # the vault's first commit is back-dated to the start of the demo history, by the archivist
    env = _git_env(first, str(Path(sys.executable).parent))
    with _patched_env(env):
        vault = init_vault(path, "安和物業示例檔案庫（demo）", recipients=recipients)
    write_demo_key(vault.root / DEMO_KEY, secret, public, DEMO_ARCHIVIST)
    write_demo_key(vault.root / DEMO_APPROVER_KEY, approver_secret, approver_public, DEMO_APPROVER)
    (vault.root / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    config = load_text((vault.root / "vault.yaml").read_text("utf-8"))
    config["departments"] = DEPARTMENTS
    # secret records (the HR file of demo/practice.py) are for the approver alone: the
    # archivist keeps them without reading them (docs/format.md §3a)
    config["readers"] = {"secret": [DEMO_APPROVER]}
    if SIMPLIFIED:
        config["language"] = "zh-Hans"
    (vault.root / "vault.yaml").write_text(dump(config), encoding="utf-8")
    vault = Vault.open(vault.root)
    gitio.run(["add", ".gitignore", "vault.yaml"], vault.root)
    gitio.run(["-c", "commit.gpgsign=false", "commit", "-q", "--amend", "--no-edit", "--no-verify"], vault.root, env=env)
    demo = _Demo(vault, PROFILES[size], today, agekeys.load_identities(secret, DEMO_KEY))
    demo.last_commit = first
    demo.history = _History(vault.root, gitio.run(["rev-parse", "HEAD"], vault.root).stdout.decode().strip())
    try:
        demo.build(progress)
    finally:
        demo.history.close()
    checked = check if check is not None else demo.profile.validate_every == 1
    if checked:
        # every record and every MAC (with the demo key); the large demo validated a
        # sample while it was built, and leaves the full check to `dangan check --all`
        vault.keyring = Keyring(vault.root / DEMO_KEY)
        result = scan.check_worktree(vault)
        if result.findings:
            shown = "; ".join(f.line() for f in result.findings[:5])
            raise RuntimeError(f"demo generator bug: the demo vault has {len(result.findings)} finding(s): {shown}")
    done = after_build(vault, today, backup_too=demo.profile.validate_every == 1, now=pinned)
    by_category: dict[str, int] = {}
    for code in demo.trees:
        category = code[:2]
        by_category[category] = by_category.get(category, 0) + 1
    return {
        "path": str(vault.root),
        "size": size,
        "as_of": today.isoformat(),
        "now": pinned.isoformat() if pinned else None,  # the moment a build for a given day is at
        "records": len(demo.trees),
        "commits": demo.commits + 1,  # and the init commit
        "by_category": dict(sorted(by_category.items())),
        "examples": {key: demo.examples[key] for key in EXAMPLES if key in demo.examples},
        "destroyed": demo.destroyed,
        "encrypted": len(demo.docs),
        "checked": checked,  # False: run `dangan check --all` (the build validated a sample)
        "key_file": str(vault.root / DEMO_KEY),
        "inventory": demo.counted,  # {code, room, day, missing, damaged}
        "scans": demo.scans,  # the attachments: [{code, file, title}]
        "done": done,
        "seconds": round(time.monotonic() - started, 1),
        "script": "zh-Hans" if SIMPLIFIED else "zh-Hant",  # the characters of the demo's texts
    }


EXAMPLES = ("equipment", "repair", "complaint", "room", "project", "owner", "overdue_loan", "requested_loan",
            "damaged_loan", "hold", "held_complaint", "certificate", "inventory", "missing_original",
            "damaged_original", "notice", "notice_complaint", "operating_log", "standard", "room_log", "training",
            "room_plan", "secret_file")


from dangan.demo.tour import after_build, tour, tour_commands  # noqa: E402,F401 (the API of `dangan demo`)
