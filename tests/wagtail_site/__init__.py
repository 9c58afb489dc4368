"""A small, real Wagtail blog that the Wagtail source is tested against.

Served in-process by tests/wagtailsite.py; the settings read the served port
and a scratch folder from the environment, so import nothing here before the
fixture has set them.
"""
