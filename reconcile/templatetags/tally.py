"""Template filters for the dashboard."""

from django import template

from hubspot_sync.text import format_duration

register = template.Library()
register.filter("duration", format_duration)
