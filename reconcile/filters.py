from django import forms

from hubspot_sync.models import Association, ItemState, ObjectType


def _any(choices, label: str = "Any") -> list[tuple[str, str]]:
    return [("", label), *choices.choices]


class ItemFilterForm(forms.Form):
    """The items page's query string: ?state=&type=&association=&q=."""

    state = forms.ChoiceField(choices=_any(ItemState), required=False)
    type = forms.ChoiceField(
        label="Object type", choices=_any(ObjectType), required=False
    )
    association = forms.ChoiceField(choices=_any(Association), required=False)
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        strip=True,
        help_text="Order number, SKU, HubSpot ID, store key or reason code",
    )

    def filters(self) -> dict[str, str]:
        """The valid filters as keyword arguments for ``queries.items``.

        An invalid value (an unknown state, say) is left out and the form
        shows why; the other fields still filter.
        """
        self.is_valid()
        data = self.cleaned_data
        return {
            "state": data.get("state", ""),
            "object_type": data.get("type", ""),
            "association": data.get("association", ""),
            "q": data.get("q", ""),
        }
