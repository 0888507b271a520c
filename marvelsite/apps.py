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


def with_object_ids(name: str, config: type[AppConfig]) -> type[AppConfig]:
    """`config` with ObjectId primary keys for its app's models (settings name it by its dotted
    path, marvelsite.apps.<name>)."""
    attrs = {
        "default_auto_field": OBJECT_ID_AUTO_FIELD,
        "__module__": __name__,
        "__qualname__": name,
    }
    return type(name, (config,), attrs)


MongoAdminConfig = with_object_ids("MongoAdminConfig", OTPAdminConfig)
MongoAuthConfig = with_object_ids("MongoAuthConfig", AuthConfig)
MongoContentTypesConfig = with_object_ids("MongoContentTypesConfig", ContentTypesConfig)
MongoAxesConfig = with_object_ids("MongoAxesConfig", AxesConfig)
MongoTOTPConfig = with_object_ids("MongoTOTPConfig", TOTPConfig)
MongoStaticConfig = with_object_ids("MongoStaticConfig", StaticConfig)
