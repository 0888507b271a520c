"""A real password hasher (MD5, tests only) that counts its work, to show what is hashed."""

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingHasher(MD5PasswordHasher):
    calls = 0

    def encode(self, password, salt):
        # Every hashing goes through here: set_password, and verify (which re-encodes).
        type(self).calls += 1
        return super().encode(password, salt)
