"""phonenumbers is imported on the first phone parsed, not when the transforms register (issue 18)."""

import subprocess
import sys

import phonenumbers

from crmsync.mapping.phonelib import _LazyPhonenumbers, _regions_from_files


def test_the_regions_read_from_the_data_files_are_phonenumbers_own():
    assert _regions_from_files() == phonenumbers.SUPPORTED_REGIONS


def test_the_stand_in_answers_as_the_module_before_and_after_loading():
    lazy = _LazyPhonenumbers()
    assert lazy.SUPPORTED_REGIONS == phonenumbers.SUPPORTED_REGIONS
    assert lazy.is_valid_number is phonenumbers.is_valid_number
    assert lazy.PhoneNumberFormat is phonenumbers.PhoneNumberFormat
    assert lazy.SUPPORTED_REGIONS is phonenumbers.SUPPORTED_REGIONS
    number = lazy.parse("+7 912 345-67-89", None)
    assert lazy.format_number(number, lazy.PhoneNumberFormat.E164) == "+79123456789"


def test_registering_the_transforms_does_not_import_phonenumbers_and_a_phone_still_normalises():
    code = (
        "import sys\n"
        "from crmsync.mapping.registry import get_transform, transform_names\n"
        "assert 'phone' in transform_names(), transform_names()\n"
        "assert 'phonenumbers' not in sys.modules, 'imported at registration'\n"
        "from crmsync.mapping import FieldCatalog\n"
        "from crmsync.mapping.context import Context\n"
        "ctx = Context(FieldCatalog('x', 'contact'), None, {}, 'pull')\n"
        "ctx.field = 'f'\n"
        "print(get_transform('phone')({'type': 'phone', 'default_region': 'RU'}).forward('8 916 123 45 67', ctx))\n"
        "assert 'phonenumbers' in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "+79161234567"
