"""A therapist's blog as Wagtail sites build one: posts with rich text or a
StreamField body, a snippet author, taggit tags and a header image."""

from __future__ import annotations

from django.db import models
from modelcluster.contrib.taggit import ClusterTaggableManager
from modelcluster.fields import ParentalKey
from rest_framework import serializers
from taggit.models import TaggedItemBase
from wagtail import blocks
from wagtail.api import APIField
from wagtail.embeds.blocks import EmbedBlock
from wagtail.fields import RichTextField, StreamField
from wagtail.images.api.fields import ImageRenditionField
from wagtail.images.blocks import ImageChooserBlock
from wagtail.models import Page
from wagtail.snippets.models import register_snippet

RICH_TEXT_FEATURES = [
    "h2",
    "h3",
    "bold",
    "italic",
    "ol",
    "ul",
    "blockquote",
    "link",
    "document-link",
    "image",
    "embed",
]


@register_snippet
class Author(models.Model):
    name = models.CharField(max_length=120)

    def __str__(self) -> str:
        return self.name


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["id", "name"]


class HomePage(Page):
    subpage_types = ["blog.BlogIndexPage"]
    template = "blog/home_page.html"


class BlogIndexPage(Page):
    subpage_types = ["blog.BlogPage", "blog.ArticlePage"]
    template = "blog/blog_index_page.html"

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["posts"] = self.get_children().live().specific().order_by("-first_published_at")
        return context


class Post(Page):
    """What both kinds of post share; `body` and `tags` are the subclass's."""

    date = models.DateField("post date")
    intro = models.TextField(blank=True)
    author = models.ForeignKey(Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    header_image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    parent_page_types = ["blog.BlogIndexPage"]
    subpage_types: list[str] = []

    api_fields = [
        APIField("date"),
        APIField("intro"),
        APIField("body"),
        APIField("author", serializer=AuthorSerializer()),
        APIField("tags"),
        APIField("header_image"),
        APIField("header_image_thumbnail", serializer=ImageRenditionField("fill-400x300", source="header_image")),
        APIField("last_published_at"),
    ]

    class Meta:
        abstract = True


class BlogPageTag(TaggedItemBase):
    content_object = ParentalKey("blog.BlogPage", related_name="tagged_items", on_delete=models.CASCADE)


class BlogPage(Post):
    body = RichTextField(features=RICH_TEXT_FEATURES, blank=True)
    tags = ClusterTaggableManager(through=BlogPageTag, blank=True)
    template = "blog/blog_page.html"


class CalloutBlock(blocks.StructBlock):
    """A block of this site's own, which no consumer can know in advance."""

    title = blocks.CharBlock()
    text = blocks.TextBlock()

    class Meta:
        template = "blog/blocks/callout.html"


class ArticleBody(blocks.StreamBlock):
    paragraph = blocks.RichTextBlock(features=RICH_TEXT_FEATURES)
    heading = blocks.CharBlock(template="blog/blocks/heading.html")
    image = ImageChooserBlock()
    quote = blocks.BlockQuoteBlock()
    embed = EmbedBlock()
    raw_html = blocks.RawHTMLBlock()
    callout = CalloutBlock()


class ArticlePageTag(TaggedItemBase):
    content_object = ParentalKey("blog.ArticlePage", related_name="tagged_items", on_delete=models.CASCADE)


class ArticlePage(Post):
    body = StreamField(ArticleBody(), blank=True)
    tags = ClusterTaggableManager(through=ArticlePageTag, blank=True)
    template = "blog/article_page.html"


POST_TYPES = (BlogPage, ArticlePage)
