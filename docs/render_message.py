"""Draw a real message of the bot as Slack shows it, for the README: `python docs/render_message.py`.

The message is not mocked: the demo's scenario runs against the emulator, and the Block Kit the bot sent
Alice for batch B-1042 is drawn with Pillow (header, two-column fields, sections, buttons, context) into
`docs/batch-review-message.png`.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from rich.emoji import Emoji

from bot import demo as sample

FONTS = Path("/usr/share/fonts/truetype")
SANS = FONTS / "dejavu/DejaVuSans.ttf"
BOLD = FONTS / "dejavu/DejaVuSans-Bold.ttf"
MONO = FONTS / "dejavu/DejaVuSansMono.ttf"
EMOJI = FONTS / "noto/NotoColorEmoji.ttf"
WIDTH, LEFT, SIZE = 760, 84, 15
INK, GREY, LINK, CODE_BG = (29, 28, 29), (97, 96, 97), (18, 100, 163), (242, 242, 242)
BUTTONS = {"primary": ((0, 122, 90), (255, 255, 255)), "danger": ((224, 30, 90), (255, 255, 255)),
           None: ((255, 255, 255), INK)}
SPAN = re.compile(r"(\*[^*\n]+\*|`[^`\n]+`)")


def blocks_sent_to_alice() -> list[dict]:
    """Run the demo quietly and return the blocks of the first DM about B-1042."""
    with tempfile.TemporaryDirectory() as workdir:
        demo = sample.Demo(Path(workdir), lambda *args, **kwargs: None)
        try:
            sample.scenario(demo)
            dms = [c for c in demo.slack.calls("chat.postMessage")
                   if c.args.get("channel") == "U0ALI" and "B-1042" in str(c.args.get("blocks"))]
            return dms[0].args["blocks"]
        finally:
            demo.stop()


class Canvas:
    def __init__(self) -> None:
        self.image = Image.new("RGB", (WIDTH, 1200), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.y = 20
        self.fonts = {name: ImageFont.truetype(str(path), SIZE) for name, path in
                      (("sans", SANS), ("bold", BOLD), ("mono", MONO))}

    def emoji(self, char: str, x: int, y: int) -> int:
        glyph = Image.new("RGBA", (160, 160))
        ImageDraw.Draw(glyph).text((0, 0), char, font=ImageFont.truetype(str(EMOJI), 109), embedded_color=True)
        box = glyph.getbbox() or (0, 0, 1, 1)
        small = glyph.crop(box).resize((SIZE + 3, SIZE + 3))
        self.image.paste(small, (x, y), small)
        return SIZE + 6

    def line(self, mrkdwn: str, x: int, font: str = "sans", colour: tuple = INK) -> None:
        """One line of mrkdwn: *bold*, `code`, emoji shortcodes."""
        for piece in SPAN.split(Emoji.replace(mrkdwn)):
            if not piece:
                continue
            face, text, fill = font, piece, colour
            if piece.startswith("*") and piece.endswith("*"):
                face, text = "bold", piece[1:-1]
            elif piece.startswith("`") and piece.endswith("`"):
                face, text, fill = "mono", piece[1:-1], (224, 30, 90)
                width = self.draw.textlength(text, font=self.fonts[face])
                self.draw.rounded_rectangle((x - 2, self.y - 1, x + width + 2, self.y + SIZE + 4), 3, fill=CODE_BG)
            for char in text:
                if ord(char) > 0x2300 and char not in "—–·":
                    x += self.emoji(char, x, self.y)
                    continue
                self.draw.text((x, self.y), char, font=self.fonts[face], fill=fill)
                x += int(self.draw.textlength(char, font=self.fonts[face]))

    def text(self, mrkdwn: str, x: int = LEFT, **style) -> None:
        for row in mrkdwn.split("\n"):
            self.line(row, x, **style)
            self.y += SIZE + 7

    def buttons(self, elements: list[dict]) -> None:
        x, self.y = LEFT, self.y + 4
        for element in elements:
            label = element["text"]["text"]
            fill, ink = BUTTONS.get(element.get("style"))
            width = self.draw.textlength(label, font=self.fonts["bold"]) + 24
            self.draw.rounded_rectangle((x, self.y, x + width, self.y + 30), 5, fill=fill,
                                        outline=(200, 200, 200) if fill == (255, 255, 255) else fill)
            self.draw.text((x + 12, self.y + 6), label, font=self.fonts["bold"], fill=ink)
            x += int(width) + 8
        self.y += 42

    def message(self, blocks: list[dict]) -> Image.Image:
        self.draw.rounded_rectangle((20, 20, 60, 60), 8, fill=(74, 21, 75))
        self.draw.text((29, 29), "cmo", font=ImageFont.truetype(str(BOLD), 12), fill="white")
        self.line("*cmo-bot*", LEFT)
        self.draw.text((LEFT + 76, self.y + 1), "APP  9:00 AM", font=ImageFont.truetype(str(SANS), 12), fill=GREY)
        self.y += SIZE + 12
        for block in blocks:
            kind = block["type"]
            if kind == "header":
                self.text(f"*{block['text']['text']}*")
                self.y += 6
            elif kind == "section":
                if block.get("text"):
                    self.text(block["text"]["text"])
                fields = block.get("fields") or []
                for left, right in zip(fields[::2], [*fields[1::2], None][:len(fields[::2])], strict=True):
                    top = self.y
                    self.text(left["text"])
                    bottom, self.y = self.y, top
                    if right:
                        self.text(right["text"], x=LEFT + 300)
                    self.y = max(bottom, self.y) + 4
            elif kind == "actions":
                self.buttons(block["elements"])
            elif kind == "context":
                for element in block["elements"]:
                    self.text(element.get("text", ""), colour=GREY)
        return self.image.crop((0, 0, WIDTH, self.y + 16))


if __name__ == "__main__":
    target = Path(__file__).with_name("batch-review-message.png")
    Canvas().message(blocks_sent_to_alice()).save(target)
    print(target)
