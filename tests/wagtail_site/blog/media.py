"""The blog's pictures and handouts, drawn with Pillow at start-up: real
JPEG, PNG and PDF files, made fresh so no binary files live in the repo."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from django.core.files.base import ContentFile
from django.core.files.images import ImageFile
from PIL import Image as Picture
from PIL import ImageDraw, ImageFont
from wagtail.documents.models import Document
from wagtail.images.models import Image

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Drawing:
    filename: str
    title: str
    size: tuple[int, int]
    sky: RGB  # the colour at the top, fading to `ground` at the bottom
    ground: RGB
    sun: RGB


HEADER_DRAWINGS = [
    Drawing("morning-light.jpg", "Morning light over the garden", (1200, 630), (250, 214, 165), (120, 160, 110), (255, 244, 214)),
    Drawing("quiet-harbour.jpg", "A quiet harbour at dusk", (1200, 630), (70, 90, 140), (30, 50, 80), (250, 200, 120)),
    Drawing("autumn-path.jpg", "An autumn path through birches", (1200, 630), (230, 180, 120), (140, 80, 40), (255, 230, 180)),
    Drawing("still-lake.jpg", "A still lake before the rain", (1200, 630), (170, 190, 200), (60, 90, 100), (230, 235, 240)),
    Drawing("winter-field.jpg", "A winter field with one tree", (1200, 630), (215, 225, 235), (235, 238, 240), (200, 210, 225)),
    Drawing("hillside-evening.jpg", "A hillside in the long evening", (1200, 630), (200, 120, 150), (60, 70, 50), (255, 200, 160)),
]

# Pictures placed inside posts, with the alt text their embeds carry.
INLINE_DRAWINGS = {
    "two-chairs": (
        Drawing("two-chairs.png", "Two armchairs in the consulting room", (640, 420), (238, 230, 218), (170, 140, 110), (200, 90, 70)),
        "Two empty armchairs facing each other in a sunlit consulting room",
    ),
    "tea": (
        Drawing("cup-of-tea.png", "A cup of tea on the windowsill", (640, 420), (205, 220, 230), (150, 120, 90), (245, 245, 240)),
        "A steaming cup of tea on a windowsill, rain on the glass behind it",
    ),
    "hands": (
        Drawing("open-hands.png", "Open hands", (640, 420), (240, 215, 190), (210, 160, 130), (250, 235, 220)),
        "Two open hands held palm up, resting on a lap",
    ),
}

HANDOUTS = {
    "grounding": (
        "grounding-handout.pdf",
        "Grounding: a one-page handout",
        [
            "Grounding when the past floods in",
            "1. Name five things you can see, slowly.",
            "2. Press your feet into the floor and notice the pressure.",
            "3. Breathe out for longer than you breathe in.",
            "4. Say today's date and where you are, out loud.",
            "5. Hold something cool, or warm, and describe it.",
        ],
    ),
    "worry-time": (
        "worry-time-worksheet.txt",
        "Worry time: a worksheet",
        [
            "WORRY TIME",
            "Pick fifteen minutes in the early evening. Same time, same chair.",
            "During the day, when a worry arrives, write one line below and postpone it.",
            "At worry time, read the list. Cross out what no longer matters.",
            "For what is left: is there one small step? Write it down.",
            "When the fifteen minutes end, close the notebook.",
        ],
    ),
}


def draw(drawing: Drawing) -> bytes:
    """A soft landscape: a vertical gradient, a low sun and two hills."""
    width, height = drawing.size
    picture = Picture.new("RGB", drawing.size)
    pen = ImageDraw.Draw(picture)
    for y in range(height):
        share = y / (height - 1)
        colour = tuple(round(top + (bottom - top) * share) for top, bottom in zip(drawing.sky, drawing.ground))
        pen.line([(0, y), (width, y)], fill=colour)
    radius = height // 7
    centre = (width * 2 // 3, height * 2 // 5)
    pen.ellipse([centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius], fill=drawing.sun)
    hill = tuple(max(0, channel - 40) for channel in drawing.ground)
    pen.ellipse([-width // 4, height * 3 // 5, width * 3 // 4, height * 2], fill=hill)
    pen.ellipse([width // 3, height * 2 // 3, width * 3 // 2, height * 2], fill=drawing.ground)
    out = BytesIO()
    picture.save(out, format="JPEG" if drawing.filename.endswith(".jpg") else "PNG", quality=80)
    return out.getvalue()


def handout_pdf(lines: list[str]) -> bytes:
    page = Picture.new("RGB", (595, 842), "white")
    pen = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=18)
    for number, line in enumerate(lines):
        pen.text((60, 80 + number * 40), line, fill=(30, 30, 30), font=font)
    out = BytesIO()
    page.save(out, format="PDF")
    return out.getvalue()


def upload_image(drawing: Drawing) -> Image:
    image = Image(title=drawing.title, file=ImageFile(BytesIO(draw(drawing)), name=drawing.filename))
    image.save()
    return image


def upload_handout(key: str) -> Document:
    filename, title, lines = HANDOUTS[key]
    data = handout_pdf(lines) if filename.endswith(".pdf") else ("\n".join(lines) + "\n").encode()
    document = Document(title=title, file=ContentFile(data, name=filename))
    document.save()
    return document
