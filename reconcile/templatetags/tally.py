"""Template filters for the dashboard."""

from django import template

from hubspot_sync.text import format_duration

register = template.Library()
register.filter("duration", format_duration)


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template, or None when it is not there."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None
