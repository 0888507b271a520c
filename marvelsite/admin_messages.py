"""Django's messages, for the admin only: the public pages show none, and setting up their
storage (a signed cookie and the session) cost every public page, cached hits included."""

from functools import cache

from django.contrib.messages.middleware import MessageMiddleware
from django.urls import get_script_prefix, reverse


@cache
def admin_path_info() -> str:
    """Where the admin's paths start, after the script prefix (request.path_info): reversed
    once per process, as reverse() costs a cached page's hit more than this whole middleware."""
    return "/" + reverse("admin:index").removeprefix(get_script_prefix())


class AdminMessageMiddleware(MessageMiddleware):
    """Django's MessageMiddleware (the admin's check accepts a subclass) on the admin's paths;
    elsewhere no storage is set up, and `messages` in a template is empty."""

    def process_request(self, request):
        if request.path_info.startswith(admin_path_info()):
            super().process_request(request)
