"""App configs: the admin with a second factor (marvelsite/otp.py), and for MongoDB the
contrib apps, django-axes and django-otp's devices with ObjectId primary keys, as
django-mongodb-backend documents."""

from axes.apps import AppConfig as AxesConfig
from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig
from django_otp.plugins.otp_static.apps import DefaultConfig as StaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as TOTPConfig

OBJECT_ID_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"


class OTPAdminConfig(AdminConfig):
    default_site = "marvelsite.otp.AdminSite"


class OTPConfig(AppConfig):
    name = "django_otp"

    def ready(self):
        from marvelsite.otp import fix_device_lookup

        fix_device_lookup()


class MongoAdminConfig(OTPAdminConfig):
    default_auto_field = OBJECT_ID_AUTO_FIELD


class MongoAuthConfig(AuthConfig):
    default_auto_field = OBJECT_ID_AUTO_FIELD


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = OBJECT_ID_AUTO_FIELD


class MongoAxesConfig(AxesConfig):
    default_auto_field = OBJECT_ID_AUTO_FIELD


class MongoTOTPConfig(TOTPConfig):
    default_auto_field = OBJECT_ID_AUTO_FIELD


class MongoStaticConfig(StaticConfig):
    default_auto_field = OBJECT_ID_AUTO_FIELD
