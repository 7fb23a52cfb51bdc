import pytest

from b24sync.connectors.onec.odata.errors import ODataFormatError
from b24sync.connectors.onec.odata.metadata import parse_metadata

EDMX_V3 = """<?xml version="1.0" encoding="UTF-8"?>
<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">
 <edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" m:DataServiceVersion="3.0">
  <Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="StandardODATA">
   <EntityType Name="Catalog_Контрагенты">
    <Key><PropertyRef Name="Ref_Key"/></Key>
    <Property Name="Ref_Key" Type="Edm.Guid" Nullable="false"/>
    <Property Name="DataVersion" Type="Edm.String"/>
    <Property Name="ИНН" Type="Edm.String" MaxLength="12"/>
    <NavigationProperty Name="Партнер" Relationship="x" FromRole="a" ToRole="b"/>
   </EntityType>
   <EntityContainer Name="EnterpriseV8" m:IsDefaultEntityContainer="true">
    <EntitySet Name="Catalog_Контрагенты" EntityType="StandardODATA.Catalog_Контрагенты"/>
    <FunctionImport Name="Post" IsBindable="true"><Parameter Name="bindingParameter" Type="StandardODATA.Document_X"/></FunctionImport>
   </EntityContainer>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>""".encode()

EDMX_V4 = b"""<?xml version="1.0"?><edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">
<edmx:DataServices><Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Microsoft.Dynamics.CRM">
<EntityType Name="account"><Key><PropertyRef Name="accountid"/></Key><Property Name="accountid" Type="Edm.Guid"/>
<Property Name="name" Type="Edm.String"/></EntityType>
<EntityContainer Name="System"><EntitySet Name="accounts" EntityType="Microsoft.Dynamics.CRM.account"/></EntityContainer>
</Schema></edmx:DataServices></edmx:Edmx>"""


def test_v3_1c():
    md = parse_metadata(EDMX_V3)
    t = md.type_of("Catalog_Контрагенты")
    assert t.keys == ["Ref_Key"] and t.navigation == ["Партнер"]
    props = {p.name: p for p in t.properties}
    assert props["ИНН"].max_length == 12 and not props["Ref_Key"].nullable
    assert md.functions[0]["name"] == "Post" and md.functions[0]["bindable"]
    assert md.as_json()["Catalog_Контрагенты"]["fields"][0] == {"name": "Ref_Key", "type": "Edm.Guid",
                                                                 "nullable": False, "max_length": None}


def test_v4_dataverse():
    md = parse_metadata(EDMX_V4)
    assert md.type_of("accounts").keys == ["accountid"]


def test_entities_and_garbage_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;">]><edmx:Edmx xmlns:edmx="e">&b;</edmx:Edmx>'
    with pytest.raises(ODataFormatError):
        parse_metadata(bomb)
    with pytest.raises(ODataFormatError):
        parse_metadata(b"<html>500</html>")
    with pytest.raises(ODataFormatError):
        parse_metadata(b"not xml")
