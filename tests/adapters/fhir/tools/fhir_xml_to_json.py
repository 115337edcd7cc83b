#!/usr/bin/env python3
"""Converts FHIR R4 XML resources to FHIR JSON, for test data only.

Usage: fhir_xml_to_json.py SCHEMA OUT_DIR FILE.xml...

The R4 JSON schema (fhir.schema.json) tells, for every element, whether it repeats (JSON array)
and whether it is a primitive and of which JSON type, which is all the XML -> JSON mapping of
https://hl7.org/fhir/R4/json.html needs: value attributes become JSON values, id/extension on a
primitive go to the "_name" sibling, nested resources get "resourceType", xhtml is kept as text.
Not a general converter: no comments, no contained XML processing instructions.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

FHIR = "{http://hl7.org/fhir}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def local(tag):
    return tag.split("}", 1)[1] if "}" in tag else tag


class Converter:
    def __init__(self, schema):
        self.defs = schema["definitions"]

    def prop(self, type_name, name):
        props = self.defs.get(type_name, {}).get("properties", {})
        if name not in props:
            raise ValueError(f"{type_name} has no element {name}")
        p = props[name]
        repeats = "items" in p
        p = p["items"] if repeats else p
        if "$ref" not in p:
            # Inline primitives: enums (codes) and the value[x] of Extension.
            return {"boolean": "boolean", "number": "decimal"}.get(p.get("type"), "code"), repeats
        return p["$ref"].split("/")[-1], repeats

    def is_primitive(self, type_name):
        d = self.defs.get(type_name, {})
        return "properties" not in d and d.get("type") in ("string", "number", "boolean")

    def primitive(self, type_name, text):
        kind = self.defs[type_name]["type"]
        if kind == "boolean":
            return text == "true"
        if kind == "number":
            return int(text) if type_name in ("integer", "positiveInt", "unsignedInt") else (
                int(text) if text.lstrip("-").isdigit() else float(text))
        return text

    def resource(self, elem):
        rtype = local(elem.tag)
        out = {"resourceType": rtype}
        self.children(elem, rtype, out)
        return out

    def complex(self, elem, type_name):
        out = {}
        if "id" in elem.attrib:
            out["id"] = elem.attrib["id"]
        if "url" in elem.attrib:
            out["url"] = elem.attrib["url"]
        self.children(elem, type_name, out)
        return out

    def children(self, elem, type_name, out):
        for child in elem:
            if not isinstance(child.tag, str):
                continue  # comments
            name = local(child.tag)
            if child.tag == XHTML + "div":
                out["div"] = ET.tostring(child, encoding="unicode").rstrip()
                continue
            child_type, repeats = self.prop(type_name, name)
            if child_type == "ResourceList":
                value = self.resource(list(child)[0])
                ext = None
            elif self.is_primitive(child_type):
                value = self.primitive(child_type, child.attrib["value"]) \
                    if "value" in child.attrib else None
                ext = {}
                if "id" in child.attrib:
                    ext["id"] = child.attrib["id"]
                exts = [self.complex(e, "Extension") for e in child
                        if isinstance(e.tag, str) and local(e.tag) == "extension"]
                if exts:
                    ext["extension"] = exts
                ext = ext or None
            else:
                value = self.complex(child, child_type)
                ext = None
            if repeats:
                out.setdefault(name, []).append(value)
                if ext is not None or "_" + name in out:
                    arr = out.setdefault("_" + name, [])
                    arr.extend([None] * (len(out[name]) - 1 - len(arr)))
                    arr.append(ext)
            else:
                if value is not None:
                    out[name] = value
                if ext is not None:
                    out["_" + name] = ext


def main():
    ET.register_namespace("", "http://www.w3.org/1999/xhtml")
    schema_path, out_dir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(schema_path, encoding="utf-8") as f:
        converter = Converter(json.load(f))
    os.makedirs(out_dir, exist_ok=True)
    for path in files:
        root = ET.parse(path).getroot()
        resource = converter.resource(root)
        name = os.path.splitext(os.path.basename(path))[0] + ".json"
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(resource, f, indent=2, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
