"""The demo's scanned documents: small, deterministic PNG and PDF files drawn by hand.

A scan here is a grey page with what a scan of a form shows from a distance: a heading,
lines of text (bars), boxes, signature strokes, a round seal, a coffee stain. Nothing is
readable and nothing is personal; the PDFs carry one line of real text (an ASCII number)
so a viewer shows something. Every file depends only on its arguments (`random.Random`
seeded with a string), so two builds attach byte-identical plaintexts.

The formats are written by hand, as the standards give them: PNG (RFC 2083: signature,
IHDR, one IDAT of zlib-deflated rows each prefixed with filter byte 0, IEND, CRC-32 per
chunk) and PDF 1.4 (objects, a cross-reference table with the byte offset of each object,
a trailer); a page of a PDF is one DeviceGray image, as a scanner writes it.
"""
from __future__ import annotations

import math
import random
import struct
import zlib

PAPER = 247  # the grey of scanned paper
INK = 40


class Page:
    """An 8-bit greyscale raster, row-major, 0 black .. 255 white."""

    def __init__(self, width: int, height: int, seed: str) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray([PAPER]) * (width * height)
        self.rng = random.Random(seed)

    def fill(self, x0: int, y0: int, x1: int, y1: int, value: int) -> None:
        x0, x1 = max(0, x0), min(self.width, x1)
        for y in range(max(0, y0), min(self.height, y1)):
            start = y * self.width
            self.pixels[start + x0:start + x1] = bytes([value]) * max(0, x1 - x0)

    def frame(self, x0: int, y0: int, x1: int, y1: int, value: int = INK, thick: int = 1) -> None:
        self.fill(x0, y0, x1, y0 + thick, value)
        self.fill(x0, y1 - thick, x1, y1, value)
        self.fill(x0, y0, x0 + thick, y1, value)
        self.fill(x1 - thick, y0, x1, y1, value)

    def text(self, x0: int, y0: int, x1: int, lines: int, size: int = 3, gap: int = 5, value: int = 90) -> int:
        """Lines of 'words' (short bars) from x0 to about x1; returns the y below them."""
        y = y0
        for line in range(lines):
            end = x1 if line < lines - 1 else x0 + (x1 - x0) * self.rng.randint(35, 80) // 100
            x = x0
            while x < end:
                word = self.rng.randint(size * 2, size * 7)
                self.fill(x, y, min(x + word, end), y + size, value)
                x += word + size
            y += size + gap
        return y

    def ring(self, cx: int, cy: int, radius: int, thick: int, value: int) -> None:
        for y in range(max(0, cy - radius), min(self.height, cy + radius + 1)):
            for x in range(max(0, cx - radius), min(self.width, cx + radius + 1)):
                if radius - thick <= math.hypot(x - cx, y - cy) <= radius:
                    self.pixels[y * self.width + x] = min(self.pixels[y * self.width + x], value)

    def stroke(self, x0: int, y0: int, length: int, value: int = 60) -> None:
        """A handwritten signature: a wavy line."""
        phase = self.rng.uniform(0, 6.0)
        for dx in range(length):
            y = y0 + int(4 * math.sin(phase + dx / 4.0) + 2 * math.sin(dx / 1.7))
            self.fill(x0 + dx, y, x0 + dx + 1, y + 2, value)

    def stain(self, cx: int, cy: int, radius: int) -> None:
        """A coffee ring: a darker rim around a faint disc."""
        self.ring(cx, cy, radius, radius, 228)
        self.ring(cx, cy, radius, 2, 170)

    def seal(self, cx: int, cy: int, radius: int = 22) -> None:
        """A company seal as a greyscale scan shows it: a ring, a star, an arc of text."""
        self.ring(cx, cy, radius, 3, 120)
        self.ring(cx, cy, 5, 5, 120)
        for i in range(12):
            angle = math.pi * (0.85 + 1.3 * i / 11)
            x, y = int(cx + (radius - 9) * math.cos(angle)), int(cy - (radius - 9) * math.sin(angle))
            self.fill(x - 2, y - 2, x + 2, y + 2, 140)

    def rows(self) -> list[bytes]:
        return [bytes(self.pixels[y * self.width:(y + 1) * self.width]) for y in range(self.height)]


def png(page: Page) -> bytes:
    """The page as a greyscale PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in page.rows())
    header = struct.pack(">IIBBBBB", page.width, page.height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def pdf(pages: list[Page], title: str, caption: str = "") -> bytes:
    """Pages as an A4 PDF, each one image (as a scanner writes them); `caption` (ASCII) is
    printed small at the foot of the first page."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(head: str, data: bytes) -> bytes:
        return f"<< {head} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"

    catalog = add(b"")  # filled in below, once the pages object has its number
    tree = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for number, page in enumerate(pages):
        image = add(stream(f"/Type /XObject /Subtype /Image /Width {page.width} /Height {page.height} "
                           "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode",
                           zlib.compress(b"".join(page.rows()), 9)))
        draw = f"q 595 0 0 842 0 0 cm /Im{number} Do Q\n"
        if caption and number == 0:
            draw += f"BT /F1 7 Tf 36 20 Td ({_pdf_text(caption)}) Tj ET\n"
        content = add(stream("", draw.encode("ascii")))
        kids.append(add(f"<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 595 842] /Contents {content} 0 R "
                        f"/Resources << /XObject << /Im{number} {image} 0 R >> /Font << /F1 {font} 0 R >> >> >>".encode()))
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {tree} 0 R >>".encode()
    objects[tree - 1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    info = add(f"<< /Title ({_pdf_text(title)}) /Producer (dangan demo) >>".encode())
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _pdf_text(text: str) -> str:
    """A PDF literal string of printable ASCII (anything else becomes '?')."""
    safe = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


# ------------------------------------------------------------------ the documents

A4 = (248, 350)  # pixels of a page: about 30 dpi, enough to look like a scan, a few KB


def id_card_copy(seed: str) -> bytes:
    """A photocopy of an ID card, front and back on one sheet (PNG)."""
    page = Page(300, 400, seed)
    for top, front in ((40, True), (220, False)):
        page.frame(50, top, 250, top + 126, 110, 2)
        if front:  # name, sex, born, address, the number; the photo on the right
            page.fill(176, top + 18, 236, top + 92, 150)
            page.ring(206, top + 44, 14, 14, 120)
            page.text(62, top + 16, 168, 5, gap=8)
            page.fill(62, top + 104, 236, top + 110, 70)
        else:  # the emblem, the issuing authority, the validity
            page.ring(78, top + 34, 18, 4, 100)
            page.fill(110, top + 24, 236, top + 32, 90)
            page.text(120, top + 80, 236, 2, gap=10)
    page.text(50, 372, 200, 1, size=2, value=150)  # "僅供物業備案使用" across the foot
    return png(page)


def contract_scan(seed: str, stained_page: int = 3) -> bytes:
    """A three-page signed contract (PDF); page `stained_page` has a coffee ring."""
    pages = []
    for number in range(1, 4):
        page = Page(*A4, seed=f"{seed}/{number}")
        y = 26
        if number == 1:
            page.fill(64, y, 184, y + 8, 50)  # the title
            y += 22
        for _ in range(5 if number < 3 else 2):
            page.fill(24, y, 24 + page.rng.randint(40, 70), y + 3, 60)  # a clause heading
            y = page.text(24, y + 9, 224, page.rng.randint(3, 6)) + 6
        if number == 3:  # the signature block: both parties, signed and sealed
            for x in (24, 136):
                page.text(x, y + 10, x + 88, 3, gap=9)
                page.stroke(x + 10, y + 62, 60)
                page.seal(x + 60, y + 70)
        if number == stained_page:
            page.stain(170, 90, 26)
        page.text(110, A4[1] - 14, 138, 1, size=2, value=150)  # the page number
        pages.append(page)
    return pdf(pages, "contract scan")


def certificate_scan(seed: str, number: str) -> bytes:
    """A one-page inspection certificate with a results table and the body's seal (PDF);
    `number` (the certificate number, ASCII) is printed at the foot."""
    page = Page(*A4, seed=seed)
    page.fill(54, 24, 194, 33, 50)
    page.text(70, 42, 178, 1)
    page.frame(24, 60, 224, 250, 80)
    for y in range(80, 250, 17):  # the table of inspected items
        page.fill(24, y, 224, y + 1, 120)
        page.text(30, y - 12, 120, 1, size=2)
        page.fill(180, y - 12, 200, y - 8, 90)  # 合格
    page.fill(130, 60, 131, 250, 120)
    y = page.text(24, 266, 224, 3)
    page.stroke(40, y + 26, 50)
    page.seal(170, y + 24, 26)
    return pdf([page], "inspection certificate", caption=number)


def notice_photo(seed: str) -> bytes:
    """A photograph of a notice posted on a lobby board (PNG): the board's frame and pins,
    the sheet with its heading, its lines of text and the management office's seal."""
    page = Page(320, 240, seed)
    page.fill(0, 0, 320, 240, 200)  # the lobby wall
    page.frame(20, 14, 300, 226, 70, 6)  # the board
    page.fill(26, 20, 294, 220, 175)  # cork
    page.fill(92, 30, 228, 212, 245)  # the sheet
    for x in (98, 222):  # pins
        page.ring(x, 36, 3, 3, 60)
    page.fill(130, 44, 190, 52, 40)  # 停水通知
    y = page.text(104, 64, 216, 6, gap=7)
    page.text(160, y + 14, 216, 2, size=2)  # the office and the date
    page.seal(196, y + 30, 14)
    return png(page)
