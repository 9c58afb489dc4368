"""Settings of the test Wagtail blog: production-like (DEBUG off), on SQLite.

WAGTAIL_SITE_PORT and WAGTAIL_SITE_DIR are set by tests/wagtailsite.py
before Django reads these settings: the port is already bound by then, and
the folder holds the database and the uploaded media.
"""

import logging
import os
from pathlib import Path

PORT = int(os.environ["WAGTAIL_SITE_PORT"])
STATE_DIR = Path(os.environ["WAGTAIL_SITE_DIR"])
BASE_URL = f"http://127.0.0.1:{PORT}"

SECRET_KEY = "reading-room-test-wagtail-site-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "tests.wagtail_site.blog",
    "wagtail.api.v2",
    "rest_framework",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django.contrib.auth",
    "django.contrib.contenttypes",
]

MIDDLEWARE = [
    # First, so that every request is logged, redirects and 404s included.
    "tests.wagtail_site.middleware.log_requests",
    "tests.wagtail_site.middleware.break_api_listings",
    "tests.wagtail_site.middleware.ignore_conditional_requests",
    # ETags and 304s, as a site behind most caches answers: the API's
    # listings and the feeds can be asked conditionally.
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.common.CommonMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "tests.wagtail_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]


class _NoMigrations(dict):
    """Every app's tables come from its models (`migrate --run-syncdb`):
    Wagtail's ~200 migrations take most of a minute on SQLite."""

    def __contains__(self, app_label: object) -> bool:
        return True

    def __getitem__(self, app_label: str) -> None:
        return None


MIGRATION_MODULES = _NoMigrations()

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": STATE_DIR / "site.sqlite3",
        "OPTIONS": {
            # The test thread writes while the server threads read: WAL lets
            # readers go on during a write, the timeout and IMMEDIATE
            # transactions make writers queue instead of failing as "locked".
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
MEDIA_ROOT = STATE_DIR / "media"
MEDIA_URL = "/media/"

# Django's own logging set-up (dictConfig) would close every handler the
# test process has. Its records go to the root logger instead, where pytest
# shows them beside a failing test: crashes only, not the 404s and the
# deliberate 500s that tests provoke.
LOGGING_CONFIG = None
logging.getLogger("django.request").addFilter(lambda record: record.exc_info is not None)

WAGTAIL_SITE_NAME = "Tending the Inner Garden"
WAGTAILADMIN_BASE_URL = BASE_URL
WAGTAILREDIRECTS_AUTO_CREATE = True
WAGTAILEMBEDS_FINDERS = [{"class": "tests.wagtail_site.blog.embeds.OfflineVideoFinder"}]
# The database backend's SQLite full-text table comes from a migration, and
# nothing here searches.
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database", "AUTO_UPDATE": False}}
WAGTAILDOCS_EXTENSIONS = ["pdf", "txt"]
STORAGES = {
    "default": {"BACKEND": "tests.wagtail_site.storage.ClosingFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
