"""The sandbox register, cross-checked with the product validator (they compute check digits independently)."""

from b24sync.requisites import check_inn, check_kpp, check_ogrn, check_ogrnip
from b24sync.sandbox.party_registry import build_registry


def test_every_seed_number_is_valid():
    reg = build_registry(40)
    assert len([e for e in reg if e.real]) >= 20 and len(reg) >= 60
    for e in reg:
        assert check_inn(e.inn, kind="legal" if e.kind == "LEGAL" else "individual").ok, e.inn
        assert (check_ogrn(e.ogrn) if e.kind == "LEGAL" else check_ogrnip(e.ogrn)).ok, e.ogrn
        if e.kind == "LEGAL":
            assert check_kpp(e.kpp).ok
            for b in e.branches:
                assert check_kpp(b.kpp).ok and b.kpp != e.kpp
        else:
            assert e.kpp is None
    assert len({e.inn for e in reg}) == len(reg)
    statuses = {e.status for e in reg}
    assert {"ACTIVE", "LIQUIDATED", "LIQUIDATING", "BANKRUPT", "REORGANIZING"} <= statuses
