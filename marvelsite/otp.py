"""A second factor for staff: TOTP (an authenticator app) and recovery codes, with django-otp.

``MARVELSITE_OTP_REQUIRED`` says who needs it to use the admin: ``superusers`` (the default),
``staff`` (every admin user) or ``off``. The admin's login form then asks for a code beside the
password; a wrong code counts as a failed login for django-axes. Devices are enrolled and reset
by commands (``otp_enrol``, ``otp_reset``): the admin never shows a secret.
"""

from __future__ import annotations

import logging

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django_otp import devices_for_user, verify_token
from django_otp.models import Device

REQUIRED_FOR = ("off", "superusers", "staff")
RECOVERY_CODES = 10

logger = logging.getLogger(__name__)


def required_for(user) -> bool:
    """Whether ``user`` needs a second factor for the admin."""
    required = settings.OTP_REQUIRED
    if required == "staff":
        return user.is_staff or user.is_superuser
    return required == "superusers" and user.is_superuser


def fix_device_lookup() -> None:
    """django-otp finds a device by ``int(device_id)``: on MongoDB a device's key is an
    ObjectId, so no device was ever found. Look it up by ``pk``, converted by the key's own
    field, on both backends (tests/admin/test_otp.py checks the upstream code still needs this)."""

    def _filter_persistent_id(cls, persistent_id, for_verify=False):
        model_label, device_id = persistent_id.rsplit("/", 1)
        device_cls = apps.get_model(model_label)  # LookupError, ValueError: no such device
        if not issubclass(device_cls, Device):
            raise LookupError(f"{model_label} is not a device")
        try:
            pk = device_cls._meta.pk.to_python(device_id)
        except ValidationError:
            raise ValueError(f"not a device id: {device_id!r}") from None
        device_set = device_cls.objects.filter(pk=pk)
        return device_set.select_for_update() if for_verify else device_set

    Device._filter_persistent_id = classmethod(_filter_persistent_id)


class OTPLoginForm(AdminAuthenticationForm):
    """The admin's login: the password, then a code from the user's authenticator app or one
    of their recovery codes, when MARVELSITE_OTP_REQUIRED covers them."""

    otp_token = forms.CharField(
        label="Authentication code",
        required=False,
        max_length=16,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "spellcheck": "false"}),
        help_text="From your authenticator app, or one of your recovery codes.",
    )

    # One answer for a wrong password, a wrong code and no second factor enrolled: a
    # different one would confirm a stolen password (and that the account is staff).
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": (
            "Enter a correct username, password and authentication code (from your "
            "authenticator app, or a recovery code) for a staff account. Note that the fields "
            "may be case-sensitive."
        ),
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not required_for(user):
            return
        devices = list(devices_for_user(user))
        if not devices:
            logger.warning(
                "admin login refused for %s: a second factor is needed; enrol one with "
                "`manage.py otp_enrol %s`",
                user.get_username(),
                user.get_username(),
            )
            raise self.get_invalid_login_error()
        token = self.cleaned_data.get("otp_token", "").replace(" ", "")
        for device in devices if token else ():
            if verified := verify_token(user, device.persistent_id, token):
                user.otp_device = verified  # django-otp keeps it in the session at login
                return
        # Counted like a wrong password: guessing codes is throttled by django-axes too.
        user_login_failed.send(
            sender=__name__,
            credentials={"username": user.get_username()},
            request=self.request,
        )
        raise self.get_invalid_login_error()


class AdminSite(admin.AdminSite):
    """Django's admin, which lets a user in only once verified, when they need a second factor."""

    login_form = OTPLoginForm
    login_template = "admin/otp_login.html"
    site_header = "marvelsite administration"
    site_title = "marvelsite admin"
    index_title = "Catalogue and imports"

    def index(self, request, extra_context=None):
        from characters.models import ImportRun  # apps load after the admin site

        last = ImportRun.objects.order_by("-started_at").first()
        return super().index(request, {"last_import": last} | (extra_context or {}))

    def login(self, request, extra_context=None):
        shown = {"otp_required": settings.OTP_REQUIRED != "off"}
        return super().login(request, shown | (extra_context or {}))

    def has_permission(self, request):
        user = request.user
        return super().has_permission(request) and (
            not required_for(user) or getattr(user, "is_verified", lambda: False)()
        )


def enrol(user) -> tuple[str, list[str]]:
    """A new authenticator (TOTP) device and RECOVERY_CODES single-use recovery codes for
    ``user``, replacing any they had: the otpauth:// URI for the app, and the codes."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice

    reset(user)
    totp = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    recovery = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in codes)
    return totp.config_url, codes


def reset(user) -> int:
    """Delete every device of ``user`` (authenticators and recovery codes); how many."""
    return sum(
        model.objects.filter(user=user).delete()[1].get(model._meta.label, 0)
        for model in (
            apps.get_model("otp_totp.TOTPDevice"),
            apps.get_model("otp_static.StaticDevice"),
        )
    )
