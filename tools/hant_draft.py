"""A first draft of the traditional-Chinese catalog from the simplified one (`make
catalogs-hant`): each message the zh_Hant catalog has no translation for gets the zh_Hans
translation converted by OpenCC (s2tw: Taiwan's standard characters, no change of words)
and then a few words that differ between the two usages (默認 → 預設). The draft is marked
fuzzy: a person reviews it and removes the mark; tests/test_catalogs.py refuses fuzzy entries.

The msgids that are Chinese already (the labels and names the schemas give, in traditional
characters: formats/fielddoc.py extract_labels) are drafted the other way: zh_Hant keeps them
as they are, zh_Hans gets them converted by OpenCC (t2s).

Authoring time only: OpenCC and Babel are development tools here, not dependencies of dangan.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po
from opencc import OpenCC

# words, not characters: where traditional usage says something else than the converted text
WORDS = {"默認": "預設", "數據": "資料", "信息": "資訊", "用戶": "使用者", "網絡": "網路",
         "文件夾": "資料夾", "源代碼": "原始碼", "命令行": "命令列", "界面": "介面", "字段": "欄位",
         "打印": "列印", "幫助": "說明", "保存": "儲存", "創建": "建立", "新建": "新增", "文檔": "文件",
         "運行": "執行", "調用": "呼叫", "加載": "載入", "區域設置": "地區設定", "設置": "設定",
         "銷燬": "銷毀", "ISO 周": "ISO 週", "存儲": "儲存", "消息": "訊息", "哈希": "雜湊",
         "字節": "位元組", "服務器": "伺服器"}


def hant(text: str, convert: OpenCC) -> str:
    out = convert.convert(text)
    for simplified_usage, traditional_usage in WORDS.items():
        out = out.replace(simplified_usage, traditional_usage)
    return out


_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z]{2,}")


def _label(message_id: object) -> bool:
    """A msgid that is a Chinese label or name of the schemas, not an English text quoting one."""
    return isinstance(message_id, str) and bool(_CJK.search(message_id)) and not _WORD.search(message_id)


def _empty(message) -> bool:
    return not message.string or (isinstance(message.string, tuple) and not all(message.string))


def main(locale_dir: str, redo: bool = False, fuzzy: bool = True) -> None:
    """Draft the messages the zh_Hant catalog lacks (with `redo`, every message: a new
    simplified catalog), marked fuzzy unless `fuzzy` is False (the author reviews at once)."""
    convert = OpenCC("s2tw")
    root = Path(locale_dir)
    hans_path = root / "zh_Hans" / "LC_MESSAGES" / "dangan.po"
    hant_path = root / "zh_Hant" / "LC_MESSAGES" / "dangan.po"
    with hans_path.open("rb") as f:
        hans = read_po(f, locale="zh_Hans")
    with hant_path.open("rb") as f:
        target = read_po(f, locale="zh_Hant")
    drafted = 0
    simplify = OpenCC("t2s")
    for message in hans:  # the schemas' labels: simplified from the traditional msgid
        if _label(message.id) and _empty(message):
            message.string = simplify.convert(message.id)
            if fuzzy:
                message.flags.add("fuzzy")
    with hans_path.open("wb") as f:
        write_po(f, hans, width=0)
    for message in target:
        if _label(message.id) and (_empty(message) or redo) and hans.get(message.id):
            message.string = message.id  # the label as the schema writes it
            if fuzzy:
                message.flags.add("fuzzy")
            continue
        if not message.id:
            continue
        empty = not message.string or (isinstance(message.string, tuple) and not all(message.string))
        source = hans.get(message.id, message.context)
        if (empty or redo) and source is not None and source.string:
            message.string = (tuple(hant(s, convert) for s in source.string)
                              if isinstance(source.string, tuple) else hant(source.string, convert))
            if fuzzy:
                message.flags.add("fuzzy")
            drafted += 1
    with hant_path.open("wb") as f:
        write_po(f, target, width=0)
    print(f"{drafted} message(s) drafted in {hant_path}" + (" (marked fuzzy: review them)" if fuzzy else ""))


if __name__ == "__main__":
    main(sys.argv[1], redo="--redo" in sys.argv[2:], fuzzy="--reviewed" not in sys.argv[2:])
