from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator

from portal.choices import TokenScope

DNS_LABEL = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    "Use lowercase letters, digits and dashes, starting and ending with a letter or digit, e.g. ci-deployer.",
)
GROUP_REF = RegexValidator(
    r"^(group:)?([a-z0-9][-a-z0-9_.]*/)?[a-z0-9][-a-z0-9_.]*$",
    "Name a Group, e.g. platform-team or group:default/platform-team.",
)


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. “CI deploy job”.", widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
        help_text="Read tokens can only read; write tokens can also create and change.",
    )


class ServiceAccountForm(forms.Form):
    name = forms.CharField(max_length=63, validators=[DNS_LABEL], help_text="A DNS label, e.g. ci-deployer.")
    owner = forms.CharField(max_length=255, validators=[GROUP_REF], help_text="The Group that owns it, e.g. platform-team.")
    description = forms.CharField(max_length=500, required=False, help_text="Optional: what uses it.")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError("A user or service account with this name exists: pick another name.")
        return name

    def clean_owner(self) -> str:
        owner = self.cleaned_data["owner"].lower()
        if not owner.startswith("group:"):
            owner = "group:" + owner
        if "/" not in owner:
            owner = owner.replace("group:", "group:default/", 1)
        return owner
