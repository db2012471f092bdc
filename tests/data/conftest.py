"""Fixtures for the data layer: a local HTTP server with Range support, and small files in the real formats
of the UCSC Xena TOIL hub and the GTEx portal, generated here (no test touches the internet)."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import time
import urllib.parse

import numpy as np
import pandas as pd
import pytest

from rnagen.data import genes as g


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        name = urllib.parse.unquote(self.path.lstrip("/").split("/")[-1])
        rng = self.headers.get("Range")
        srv.requests.append((name, rng))
        srv.paths.append(self.path)
        if name not in srv.files:
            self.send_error(404)
            return
        if srv.fail_first.get(name):   # a busy or rate-limiting server: these statuses first, then the file
            self.send_response(srv.fail_first[name].pop(0))
            if name in srv.retry_after:
                self.send_header("Retry-After", srv.retry_after[name])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = srv.files[name]
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'   # as S3, GCS and NCBI send one: the version
        start = 0
        if_range = self.headers.get("If-Range")
        # If-Range (RFC 9110 13.1.5): the range only of the version named, else the whole file
        if rng and srv.honour_range and (if_range is None or if_range == etag):
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if name not in srv.no_length:   # else HTTP/1.0's end of body: the connection closing
            self.send_header("Content-Length", str(len(body)))
        if name in srv.encoded:   # a gzip file stored as gzip-encoded content (Google Cloud Storage's transcoding)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Accept-Ranges", "bytes")
        if name in srv.content_type:
            self.send_header("Content-Type", srv.content_type[name])
        if srv.validators:
            self.send_header("ETag", etag)
        self.end_headers()
        if name in srv.hang:   # a server that answers and then sends nothing
            time.sleep(srv.hang[name])
            self.close_connection = True
            return
        if name in srv.hold:   # a slow transfer that the test ends: half the body, the rest once the event is set
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            srv.hold[name].wait(60)
            self.wfile.write(body[len(body) // 2:])
            return
        if name in srv.trickle and name not in srv.dropped:
            # a stalled server: a few bytes now and then, never silent for the socket's timeout
            srv.dropped.add(name)
            size, pause = srv.trickle[name]
            try:
                for i in range(0, len(body), size):
                    self.wfile.write(body[i:i + size])
                    self.wfile.flush()
                    time.sleep(pause)
            except OSError:   # the client gave up on it
                pass
            self.close_connection = True
            return
        if name in srv.drop_first and name not in srv.dropped:
            # announce the full length, send half, hang up: the client sees an interrupted transfer
            srv.dropped.add(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def http_server():
    """A threaded HTTP server on 127.0.0.1 serving ``server.files`` (name -> bytes) with Range support.

    ``server.drop_first``: names whose first GET is cut off half-way; ``server.requests``: (name, Range);
    ``server.fail_first``: name -> statuses its first GETs get (with ``server.retry_after``: name -> its
    Retry-After header); ``server.trickle``: name -> (bytes, seconds), its first GET sent that many bytes at a
    time with pauses between (a stalled transfer); ``server.content_type``: name -> its Content-Type header;
    ``server.hold``: name -> a ``threading.Event`` its GETs wait for half-way (a slow transfer the test ends).
    """
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.drop_first, srv.dropped, srv.requests, srv.honour_range = {}, set(), set(), [], True
    srv.validators = True   # an ETag on each response (a server without one cannot be resumed safely)
    srv.no_length, srv.encoded = set(), set()   # names sent without Content-Length / with Content-Encoding gzip
    srv.paths = []  # the full request paths (folder layouts such as GEO's)
    srv.fail_first = {}   # name -> HTTP statuses answered to its first GETs
    srv.retry_after = {}   # name -> the Retry-After header sent with those statuses
    srv.content_type = {}   # name -> the Content-Type header sent with the file
    srv.hang = {}   # name -> seconds its GETs wait, after the headers, before hanging up without a byte
    srv.trickle = {}   # name -> (bytes, seconds): its first GET sends that many bytes at a time, pausing between
    srv.hold = {}   # name -> threading.Event: its GETs send half the body, then the rest once the event is set
    srv.base_url = f"http://127.0.0.1:{srv.server_address[1]}/files"
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _genes(n_lm: int = 12, n_target: int = 18):
    """Versioned Ensembl IDs: landmarks, protein-coding targets, and rows the conversion must drop."""
    t = g.gene_table()
    lm = t[t.is_landmark].head(n_lm)
    tg = t[~t.is_landmark].head(n_target)
    ids = [f"{e}.{i % 7 + 1}" for i, e in enumerate(pd.concat([lm, tg]).ensembl_id)]
    drop = ["ENSG00000999990.1", "ENSG00000999991.3", "ENSGR0000182378.13", "ENSG00000182378.13_PAR_Y"]
    return ids, drop


def gz(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), mtime=0)


@pytest.fixture
def xena_files():
    """(expression .gz bytes, phenotype .gz bytes, truth dict) in the Xena TOIL layout."""
    rng = np.random.default_rng(0)
    keep_ids, drop_ids = _genes()
    ids = keep_ids[:5] + drop_ids[:2] + keep_ids[5:] + drop_ids[2:]
    sites = ["Breast"] * 5 + ["Lung"] * 4 + ["Kidney"] * 3 + ["Eye"]
    cats = {"Breast": "Breast Invasive Carcinoma", "Lung": "Lung Adenocarcinoma",
            "Kidney": "Kidney Clear Cell Carcinoma", "Eye": "Uveal Melanoma"}
    tcga = [f"TCGA-{i:02d}-{1000 + i}-01" for i in range(len(sites))]
    other = ["GTEX-1117F-0226-SM-5GZZ7", "GTEX-111CU-1826-SM-5GZYN", "TARGET-10-PAKHZT-03"]
    samples = tcga[:6] + other[:2] + tcga[6:] + other[2:]
    tpm = rng.gamma(0.8, 30.0, size=(len(ids), len(samples)))
    vals = np.round(np.log2(tpm + 0.001), 4)
    lines = ["sample\t" + "\t".join(samples)]
    for gid, row in zip(ids, vals):
        lines.append(gid + "\t" + "\t".join(f"{v:.4f}" for v in row))
    expr = gz("\n".join(lines) + "\n")
    ph = ["sample\tdetailed_category\tprimary disease or tissue\t_primary_site\t_sample_type\t_gender\t_study"]
    for s, site in zip(tcga, sites):
        ph.append(f"{s}\t{cats[site]}\t{cats[site]}\t{site}\tPrimary Tumor\tFemale\tTCGA")
    ph.append(f"{other[0]}\tAdipose - Subcutaneous\tAdipose - Subcutaneous\tAdipose Tissue\tNormal Tissue\tMale\tGTEX")
    ph.append(f"{other[1]}\tLung\tLung\tLung\tNormal Tissue\tMale\tGTEX")
    ph.append(f"{other[2]}\tAcute Myeloid Leukemia\tAcute Myeloid Leukemia\tBone Marrow\t"
              "Primary Blood Derived Cancer - Bone Marrow\tMale\tTARGET")
    pheno = gz("\n".join(ph) + "\n")
    truth = {"ids": ids, "samples": samples, "values": vals.astype(np.float32), "tcga": tcga, "sites": sites,
             "keep_ids": keep_ids, "drop_ids": drop_ids}
    return expr, pheno, truth


@pytest.fixture
def gtex_files():
    """(GCT .gz bytes, SampleAttributesDS bytes, truth) in the GTEx portal layout."""
    rng = np.random.default_rng(1)
    keep_ids, drop_ids = _genes()
    ids = drop_ids[:1] + keep_ids + drop_ids[1:]
    tissues = ["Blood"] * 6 + ["Lung"] * 5 + ["Brain"] * 2
    detail = {"Blood": "Whole Blood", "Lung": "Lung", "Brain": "Brain - Cortex"}
    samples = [f"GTEX-{1000 + i:X}-0{i:03d}-SM-{i:05d}" for i in range(len(tissues))]
    tpm = (rng.gamma(0.8, 30.0, size=(len(ids), len(samples)))).round(3)
    t = g.gene_table().set_index("ensembl_id")
    lines = ["#1.2", f"{len(ids)}\t{len(samples)}", "Name\tDescription\t" + "\t".join(samples)]
    for gid, row in zip(ids, tpm):
        sym = t.symbol.get(g.strip_version(gid), "LINC-X")
        lines.append(f"{gid}\t{sym}\t" + "\t".join(f"{v:g}" for v in row))
    gct = gz("\n".join(lines) + "\n")
    at = ["SAMPID\tSMATSSCR\tSMCENTER\tSMPTHNTS\tSMRIN\tSMTS\tSMTSD\tSMUBRID"]
    for s, ti in zip(samples, tissues):
        at.append(f"{s}\t0\tB1\t\t7.1\t{ti}\t{detail[ti]}\t0001")
    at.append("GTEX-NOTINMATRIX-0001-SM-XXXXX\t0\tB1\t\t7.0\tBlood\tWhole Blood\t0001")
    attrs = ("\n".join(at) + "\n").encode("utf-8")
    truth = {"ids": ids, "samples": samples, "values": tpm.astype(np.float32), "tissues": tissues,
             "keep_ids": keep_ids, "drop_ids": drop_ids}
    return gct, attrs, truth
