#!/usr/bin/python3
"""Reads the DCAT-AP-DK catalogue as a harvester would, for the tests.

usage: check_dcat.py JSONLD_FILE TURTLE_FILE BASE_URL SERVICE_PATH...

Parses both files with rdflib, checks that they are the same graph, and
that it holds one dcat:Catalog with each SERVICE_PATH as a dcat:DataService
linked by dcat:service, each with a Danish and an English title, a
description, its endpoint URL (BASE_URL/<path>), an endpoint description,
a publisher with a name and access rights; the catalogue itself with a
title, a publisher and a licence. Prints the number of triples. Exit 0 when
all holds, 1 otherwise (the problems on standard error).
"""
import sys

from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF


def main():
    jsonld, turtle, base, paths = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    g = Graph().parse(jsonld, format="json-ld")
    t = Graph().parse(turtle, format="turtle")
    problems = []
    if not isomorphic(g, t):
        problems.append("the JSON-LD and the Turtle are not the same graph")

    def one(s, p):
        v = list(g.objects(s, p))
        if not v:
            problems.append("%s has no %s" % (s, p))
        return v[0] if v else None

    catalogs = list(g.subjects(RDF.type, DCAT.Catalog))
    if len(catalogs) != 1:
        problems.append("%d dcat:Catalog, expected 1" % len(catalogs))
        catalogs = catalogs or [URIRef(base + "/servicekatalog")]
    cat = catalogs[0]
    one(cat, DCTERMS.title)
    one(cat, DCTERMS.license)
    pub = one(cat, DCTERMS.publisher)
    if pub is not None and not list(g.objects(pub, FOAF.name)):
        problems.append("the publisher has no foaf:name")
    services = set(g.objects(cat, DCAT.service))
    if len(services) != len(paths):
        problems.append("%d services, expected %d" % (len(services), len(paths)))
    for path in paths:
        found = [s for s in services
                 if Literal(path) in g.objects(s, DCTERMS.identifier)]
        if len(found) != 1:
            problems.append("service %s: %d in the catalogue" % (path, len(found)))
            continue
        s = found[0]
        if (s, RDF.type, DCAT.DataService) not in g:
            problems.append("%s is not a dcat:DataService" % path)
        langs = {o.language for o in g.objects(s, DCTERMS.title)}
        if langs != {"da", "en"}:
            problems.append("%s: titles in %s" % (path, sorted(map(str, langs))))
        one(s, DCTERMS.description)
        one(s, DCAT.endpointDescription)
        one(s, DCTERMS.accessRights)
        if one(s, DCTERMS.publisher) != pub:
            problems.append("%s: another publisher" % path)
        if one(s, DCAT.endpointURL) != URIRef(base + "/" + path):
            problems.append("%s: endpoint %s" % (path, one(s, DCAT.endpointURL)))
    print(len(g))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
