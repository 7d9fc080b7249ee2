"""Minimal SOAP 1.1 for Orange Money: build one operation's envelope, read one element's fields.

Only flat operations are needed (every parameter is a text element), so this avoids a SOAP library.
Incoming XML with a DOCTYPE is refused outright (no entity expansion, no external entities).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

__all__ = ["SOAP_ENV", "SoapError", "envelope", "parse_fields"]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_MAX_BYTES = 64 * 1024


class SoapError(ValueError):
    """The XML is not a SOAP message carrying the expected element."""


def envelope(namespace: str, operation: str, params: Mapping[str, str]) -> bytes:
    """``<soapenv:Envelope><soapenv:Body><ns:operation><param>text</param>...`` (params unqualified)."""
    ET.register_namespace("soapenv", SOAP_ENV)
    ET.register_namespace("ns", namespace)
    root = ET.Element(f"{{{SOAP_ENV}}}Envelope")
    ET.SubElement(root, f"{{{SOAP_ENV}}}Header")
    body = ET.SubElement(root, f"{{{SOAP_ENV}}}Body")
    op = ET.SubElement(body, f"{{{namespace}}}{operation}")
    for name, value in params.items():
        ET.SubElement(op, name).text = value
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_fields(body: bytes, element: str) -> dict[str, str]:
    """Text of every leaf under the first element whose local name is ``element`` (namespaces ignored)."""
    if len(body) > _MAX_BYTES:
        raise SoapError("message too large")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise SoapError("DOCTYPE/ENTITY declarations are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise SoapError("not well-formed XML") from None
    target = next((el for el in root.iter() if _local(el.tag) == element), None)
    if target is None:
        raise SoapError(f"no {element} element")
    fields: dict[str, str] = {}
    for el in target.iter():
        if el is not target and len(el) == 0:
            fields.setdefault(_local(el.tag), (el.text or "").strip())
    return fields
