"""Django's messages, for the admin only: the public pages show none, and setting up their
storage (a signed cookie and the session) cost every public page, cached hits included."""

from django.contrib.messages.middleware import MessageMiddleware

from marvelsite.routing import admin_path_info


class AdminMessageMiddleware(MessageMiddleware):
    """Django's MessageMiddleware (the admin's check accepts a subclass) on the admin's paths;
    elsewhere no storage is set up, and `messages` in a template is empty."""

    def process_request(self, request):
        if request.path_info.startswith(admin_path_info()):
            super().process_request(request)
