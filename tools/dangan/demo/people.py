"""The demo's invented people: owners, tenants, complainants (see demo/__init__.py).

Names like 王小明, mobile numbers 1xx-0000-nnnn and ID numbers of a county code nobody has:
well formed, and nobody's.
"""
from __future__ import annotations

import itertools
import random
from typing import Any

SURNAMES = "王李張劉陳楊黃趙吳周徐孫馬朱胡郭何林高羅鄭梁謝宋唐許韓馮鄧曹彭曾蕭田董潘袁蔡蔣余杜葉程蘇魏呂丁沈任姚盧姜崔鍾譚陸汪范金石廖賈夏韋付方白鄒孟熊秦邱江尹薛閆段雷侯龍史陶黎賀顧毛郝龔邵萬錢嚴覃武戴莫孔向湯"
GIVEN = [
    "小明", "建華", "秀英", "麗娟", "志強", "海燕", "偉", "芳", "敏", "靜", "磊", "洋", "艷", "勇", "軍", "傑",
    "娟", "濤", "超", "明", "霞", "平", "剛", "桂英", "玉蘭", "文", "華", "紅", "建國", "建軍", "曉東", "曉燕",
    "子涵", "浩然", "欣怡", "梓萱", "一諾", "思遠", "雨桐", "俊傑", "佳怡", "宇航", "婷婷", "春梅", "國華", "德明",
]
RELATIONS = ["配偶", "子女", "父親", "母親", "兄弟姐妹"]
# 320599 is no county's code (Suzhou's counties are 320505-320509 and 320581-320585): every
# demo ID number is well formed, with a correct check digit, and belongs to nobody.
FAKE_REGION = "320599"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character of a resident ID number."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


class _People:
    """Invented owners, tenants and complainants: names like 王小明, mobile numbers
    1xx-0000-nnnn, ID numbers of a county that does not exist. An own random stream, so the
    rest of the story does not depend on how many people were invented."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.serial = itertools.count(1)

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def phone(self) -> str:
        return f"1{self.rng.choice('35789')}{self.rng.randint(0, 9)}-0000-{self.rng.randint(0, 9999):04d}"

    def id_number(self, born: int | None = None) -> str:
        year = born or self.rng.randint(1950, 2000)
        first = f"{FAKE_REGION}{year}{self.rng.randint(1, 12):02d}{self.rng.randint(1, 28):02d}{next(self.serial) % 1000:03d}"
        return first + id_check_digit(first)

    def credit_code(self) -> str:
        body = f"91{FAKE_REGION}MA{self.rng.randint(0, 99999999):08d}"
        return body

    def owner(self, role: str = "primary") -> dict[str, Any]:
        return {"role": role, "owner_kind": "person", "name": self.name(), "id_type": "id_card",
                "id_number": self.id_number(), "phone": self.phone()}

    def contact(self, surname_of: str | None = None) -> dict[str, str]:
        name = (surname_of[0] if surname_of else self.rng.choice(SURNAMES)) + self.rng.choice(GIVEN)
        return {"name": name, "relation": self.rng.choice(RELATIONS), "phone": self.phone()}

    def title_deed(self, year: int) -> str:
        return f"蘇({year})蘇州市不動產權第{self.rng.randint(0, 9999999):07d}號"
