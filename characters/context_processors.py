"""Values every page's templates use (base.html's search box included)."""

from characters.forms import NAME_MAX


def search(request):
    return {"search_max_length": NAME_MAX}
