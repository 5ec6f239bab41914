/* report_html.c — the page itself: escaping (everything from the archive came from an LLM
 * or a user and must render as text), number formatting, the header, the sections in
 * order, the candidate table, and the page's inline CSS and script.
 *
 * The page is one file with no external reference: no fonts, images, scripts or styles
 * from the network, so it opens the same offline, from a mail attachment or a CI artefact. */
#include "report.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rp_esc(dc_sb *b, const char *text)
{
    if (!text) return;
    const char *run = text, *p = text;
    for (; *p; p++) {
        const char *rep = NULL;
        unsigned char ch = (unsigned char)*p;
        switch (ch) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            /* C0 controls (other than tab, newline, carriage return) and DEL are not
             * allowed in HTML text: show a replacement character instead. */
            if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f) rep = "\xef\xbf\xbd";
        }
        if (!rep) continue;
        dc_sb_appendn(b, run, (size_t)(p - run));
        dc_sb_append(b, rep);
        run = p + 1;
    }
    dc_sb_appendn(b, run, (size_t)(p - run));
}

const char *rp_num(char *buf, size_t cap, double v)
{
    if (!isfinite(v)) return dc_fmt(buf, cap, "\xe2\x80\x93"); /* en dash */
    if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-4)) return dc_fmt(buf, cap, "%.3e", v);
    return dc_fmt(buf, cap, "%.4g", v);
}

/* Sort key for data-* attributes: full precision, empty when missing. */
static void key_attr(dc_sb *b, const char *name, double v)
{
    if (isfinite(v)) dc_sb_printf(b, " data-%s=\"%.10g\"", name, v);
    else dc_sb_printf(b, " data-%s=\"\"", name);
}

static const char CSS[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1400px;"
    "padding:0 18px 40px;color:#222;background:#fff}"
    "h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}"
    ".meta{color:#555;margin:2px 0}.meta b{color:#222}nav a{margin-right:14px}"
    ".errors{background:#fee;border:1px solid #d33;padding:6px 10px;color:#900}"
    "figure{margin:10px 0 18px}figcaption{max-width:1100px;margin-bottom:6px;color:#333}"
    ".warn{color:#a40}.note{color:#666;font-size:12px}"
    ".row{display:flex;flex-wrap:wrap;gap:12px}.grid{display:flex;flex-wrap:wrap;gap:10px}"
    ".cell{border:1px solid #eee;padding:4px}.ctitle{font-weight:600;font-size:13px}"
    "svg.plot{background:#fff;overflow:visible}svg .frame{fill:none;stroke:#999}"
    "svg .grid{stroke:#eee}svg .tick{font-size:10px;fill:#555}svg .axis{font-size:12px;fill:#333}"
    "svg .lab{font-size:10px;fill:#333}"
    "svg .best{fill:none;stroke:#000;stroke-width:2}svg .best.test{stroke:#7b3294}"
    "svg .ref{fill:none;stroke:#000;stroke-width:2;stroke-dasharray:6 4}"
    "svg a circle:hover{stroke:#000;stroke-width:1.5}"
    ".legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin-top:4px}"
    ".legend i{display:inline-block;width:11px;height:11px;border-radius:6px;margin-right:4px;vertical-align:-1px}"
    ".legend i.dash{width:18px;height:0;border-top:2px dashed #000;border-radius:0;vertical-align:3px}"
    "table{border-collapse:collapse}table.totals td,table.totals th{padding:2px 10px;text-align:right}"
    "#cands{width:100%;font-size:13px}#cands th{position:sticky;top:0;background:#f4f4f4;cursor:pointer;"
    "text-align:left;padding:4px 6px;border-bottom:1px solid #ccc;user-select:none}"
    "#cands th[aria-sort=ascending]::after{content:' \\25B2'}#cands th[aria-sort=descending]::after{content:' \\25BC'}"
    "#cands td{padding:3px 6px;border-bottom:1px solid #f0f0f0;vertical-align:top}"
    "#cands td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "#cands tr.crow{cursor:pointer}#cands tr.crow:hover{background:#f7fbff}#cands tbody.open tr.crow{background:#eef5ff}"
    "#cands tbody:target tr.crow{outline:2px solid #1f77b4}"
    ".st{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px}"
    "tr.detail td{background:#fafafa;padding:8px 14px}#cands tbody.more{display:none}"
    "#show-all{margin:8px 0;padding:4px 12px;cursor:pointer}"
    ".thought{white-space:pre-wrap;max-width:1100px}"
    "pre{background:#f6f8fa;border:1px solid #e4e4e4;padding:8px;overflow:auto;max-height:520px;font-size:12px}"
    "details summary{cursor:pointer;color:#1f4f8f}"
    ".tokrow{margin:8px 0}.toks{margin:3px 0;line-height:1.9}.tprompt{color:#777}"
    ".tok{padding:1px 4px;margin:0 1px;border-radius:3px;border:1px solid #ddd;white-space:pre}";

/* Writes errors of the page's own script into the page (and keeps them for tests that
 * read the DOM): a report that silently lost its sorting would look fine otherwise. */
static const char HEAD_SCRIPT[] =
    "window.dcErrors=[];window.onerror=function(m,s,l){window.dcErrors.push(m+' (line '+l+')');"
    "var e=document.getElementById('js-errors');if(e){e.hidden=false;"
    "e.textContent='Script errors on this page: '+window.dcErrors.join('; ');}};";

#define RP_STR_(x) #x
#define RP_STR(x) RP_STR_(x)

/* Sorting by column and expanding rows; each candidate is one <tbody> (its row and its
 * hidden detail row), so sorting moves them together. #cID in the address opens a row. */
static const char BODY_SCRIPT[] =
    "(function(){var t=document.getElementById('cands'),PAGE=" RP_STR(RP_TABLE_PAGE) ";"
    "function show(tb,on){var d=tb.querySelector('tr.detail');if(!d)return;d.hidden=!on;"
    "tb.classList.toggle('open',on);}"
    "t.addEventListener('click',function(e){if(e.target.closest('a,details,pre'))return;"
    "var r=e.target.closest('tr.crow');if(r)show(r.parentNode,r.parentNode.classList.contains('open')?false:true);});"
    "t.addEventListener('keydown',function(e){var r=e.target.closest('tr.crow');"
    "if(r&&(e.key==='Enter'||e.key===' ')){e.preventDefault();show(r.parentNode,!r.parentNode.classList.contains('open'));}});"
    "var ths=t.querySelectorAll('th[data-col]');"
    "Array.prototype.forEach.call(ths,function(th){th.addEventListener('click',function(){"
    "var col=th.getAttribute('data-col'),num=th.getAttribute('data-type')==='num';"
    "var dir=th.getAttribute('aria-sort')==='ascending'?-1:1;"
    "Array.prototype.forEach.call(ths,function(h){h.removeAttribute('aria-sort');});"
    "th.setAttribute('aria-sort',dir>0?'ascending':'descending');"
    "var bs=Array.prototype.slice.call(t.tBodies);"
    "bs.sort(function(a,b){var x=a.getAttribute('data-'+col),y=b.getAttribute('data-'+col);"
    "if(num){x=x===''?NaN:+x;y=y===''?NaN:+y;if(isNaN(x)||isNaN(y))return isNaN(x)-isNaN(y);"
    "return (x-y)*dir||(+a.getAttribute('data-id')-b.getAttribute('data-id'));}"
    "return x.localeCompare(y)*dir;});"
    "var f=document.createDocumentFragment();bs.forEach(function(b){f.appendChild(b);});t.appendChild(f);page();});});"
    "var all=false,btn=document.getElementById('show-all');"
    "function page(){Array.prototype.forEach.call(t.tBodies,function(b,i){"
    "b.classList.toggle('more',!all&&i>=PAGE&&!b.classList.contains('open'));});}"
    "if(btn)btn.addEventListener('click',function(){all=true;page();btn.hidden=true;});"
    "function fromHash(){var h=decodeURIComponent(location.hash.slice(1));if(!/^c[0-9]+$/.test(h))return;"
    "var tb=document.getElementById(h);if(tb&&tb.tagName==='TBODY'){tb.classList.remove('more');show(tb,true);"
    "tb.scrollIntoView();}}"
    "window.addEventListener('hashchange',fromHash);fromHash();"
    "document.body.setAttribute('data-ready','1');})();";

/* Index of candidate id in d->cands (sorted by id), -1 when absent. */
static int find_cand(const rp_data *d, int64_t id)
{
    int lo = 0, hi = d->ncands - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (d->cands[mid].id == id) return mid;
        if (d->cands[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    for (int i = 0; i < d->ncands; i++) /* not sorted after all: linear fallback */
        if (d->cands[i].id == id) return i;
    return -1;
}

/* Parent links "#3 dpo" (to their rows); returns the count. */
static int parent_links(dc_sb *b, const rp_data *d, const char *parents_json, int with_names)
{
    cJSON *ids = cJSON_Parse(parents_json ? parents_json : "[]");
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, ids)
    {
        if (!cJSON_IsNumber(it)) continue;
        long long id = (long long)it->valuedouble;
        int j = find_cand(d, id);
        if (k++) dc_sb_append(b, with_names ? ", " : " ");
        if (j < 0) {
            dc_sb_printf(b, "#%lld%s", id, with_names ? " (not in this campaign)" : "");
            continue;
        }
        dc_sb_printf(b, "<a href=\"#c%lld\">#%lld", id, id);
        if (with_names) {
            dc_sb_append(b, " ");
            rp_esc(b, d->cands[j].name);
        }
        dc_sb_append(b, "</a>");
    }
    cJSON_Delete(ids);
    return k;
}

static void candidate_rows(dc_sb *b, const rp_data *d)
{
    char v1[32], v2[32];
    for (int i = 0; i < d->ncands; i++) {
        const arc_candidate *c = &d->cands[i];
        double fit = c->has_fitness ? c->fitness : NAN, test = c->has_fitness ? c->test_metric : NAN;
        dc_sb_printf(b, "<tbody id=\"c%lld\"%s data-id=\"%lld\" data-gen=\"%d\" data-name=\"", (long long)c->id,
                     i >= RP_TABLE_PAGE ? " class=\"more\"" : "", (long long)c->id, c->generation);
        rp_esc(b, c->name);
        dc_sb_append(b, "\" data-status=\"");
        rp_esc(b, c->status);
        dc_sb_append(b, "\"");
        key_attr(b, "fitness", fit);
        key_attr(b, "test", test);
        key_attr(b, "seconds", c->seconds);
        dc_sb_printf(b, "><tr class=\"crow\" tabindex=\"0\"><td class=\"n\">%lld</td><td class=\"n\">%d</td><td>",
                     (long long)c->id, c->generation);
        rp_esc(b, c->name);
        dc_sb_printf(b, "</td><td><span class=\"st\" style=\"background:%s\">", rp_status_color(c->status));
        rp_esc(b, c->status);
        dc_sb_printf(b, "</span></td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%.1f</td><td>",
                     rp_num(v1, sizeof v1, fit), rp_num(v2, sizeof v2, test), c->seconds);
        parent_links(b, d, c->parents_json, 0);
        dc_sb_append(b, "</td></tr><tr class=\"detail\" hidden><td colspan=\"8\">");
        if (c->message && c->message[0]) {
            dc_sb_append(b, "<p><b>Message:</b> ");
            rp_esc(b, c->message);
            dc_sb_append(b, "</p>");
        }
        if (c->duplicate_of) dc_sb_printf(b, "<p>Duplicate of <a href=\"#c%lld\">#%lld</a>.</p>",
                                          (long long)c->duplicate_of, (long long)c->duplicate_of);
        dc_sb_append(b, "<p><b>Parents:</b> ");
        if (!parent_links(b, d, c->parents_json, 1)) dc_sb_append(b, "none (a seed or a first proposal)");
        dc_sb_append(b, "</p><p><b>Thought</b></p><div class=\"thought\">");
        rp_esc(b, c->thought && c->thought[0] ? c->thought : "(none)");
        int lines = 0;
        for (const char *p = c->code ? c->code : ""; *p; p++) lines += *p == '\n';
        dc_sb_printf(b, "</div><details><summary>code (%d lines)</summary><pre>", lines + 1);
        rp_esc(b, c->code);
        dc_sb_append(b, "</pre></details>");
        if (c->metrics_json && strcmp(c->metrics_json, "{}") != 0) {
            dc_sb_append(b, "<details><summary>metrics</summary><pre>");
            rp_esc(b, c->metrics_json);
            dc_sb_append(b, "</pre></details>");
        }
        dc_sb_append(b, "</td></tr></tbody>");
    }
}

static void header(dc_sb *b, const rp_data *d)
{
    const arc_campaign *c = &d->camp;
    dc_sb_append(b, "<header><h1>Campaign ");
    rp_esc(b, c->name);
    dc_sb_append(b, "</h1><p class=\"meta\">");
    rp_esc(b, d->campaign_note);
    dc_sb_append(b, ".</p><p class=\"meta\"><b>task</b> ");
    rp_esc(b, c->task);
    dc_sb_append(b, " &middot; <b>proposer</b> ");
    rp_esc(b, c->proposer);
    if (c->model && c->model[0]) {
        dc_sb_append(b, " &middot; <b>model</b> ");
        rp_esc(b, c->model);
    }
    dc_sb_printf(b, " &middot; <b>seed</b> %lld &middot; <b>status</b> ", (long long)c->seed);
    rp_esc(b, c->status);
    dc_sb_append(b, " &middot; <b>started</b> ");
    rp_esc(b, c->created_at);
    dc_sb_append(b, " &middot; <b>updated</b> ");
    rp_esc(b, c->updated_at);
    int scored = 0, gmax = -1;
    for (int i = 0; i < d->ncands; i++) {
        scored += d->cands[i].has_fitness && isfinite(d->cands[i].fitness);
        if (d->cands[i].generation > gmax) gmax = d->cands[i].generation;
    }
    dc_sb_printf(b, "</p><p class=\"meta\"><b>%d</b> candidates, <b>%d</b> scored, generations 0\xe2\x80\x93%d",
                 d->ncands, scored, gmax < 0 ? 0 : gmax);
    int best = rp_best_index(d->cands, d->ncands);
    if (best >= 0) {
        char v1[32], v2[32];
        const arc_candidate *bc = &d->cands[best];
        dc_sb_printf(b, "; best fitness <b>%s</b> (test %s) by <a href=\"#c%lld\">#%lld ",
                     rp_num(v1, sizeof v1, bc->fitness), rp_num(v2, sizeof v2, bc->test_metric),
                     (long long)bc->id, (long long)bc->id);
        rp_esc(b, bc->name);
        dc_sb_append(b, "</a>");
    }
    dc_sb_append(b, ".</p><div id=\"js-errors\" class=\"errors\" hidden></div><nav><a href=\"#progress\">search "
                    "progress</a>");
    if (d->is_pref) dc_sb_append(b, "<a href=\"#preference\">losses &amp; frontier</a>");
    dc_sb_append(b, "<a href=\"#curves\">curves</a><a href=\"#llm\">LLM calls</a><a href=\"#candidates\">"
                    "candidates</a></nav></header>");
}

char *rp_render(const rp_data *d, const char *generator)
{
    dc_sb b = {0};
    dc_sb_append(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                     "<title>discover report: ");
    rp_esc(&b, d->camp.name);
    dc_sb_printf(&b, "</title><script>%s</script><style>%s</style></head><body>\n", HEAD_SCRIPT, CSS);
    header(&b, d);
    dc_sb_append(&b, "\n<section id=\"progress\"><h2>Search progress</h2>");
    rp_plot_progress(&b, d, 0);
    rp_plot_progress(&b, d, 1);
    rp_plot_confirm(&b, d);
    rp_plot_islands(&b, d);
    rp_plot_timeline(&b, d);
    dc_sb_append(&b, "</section>\n");
    if (d->is_pref) {
        dc_sb_append(&b, "<section id=\"preference\"><h2>Preference objectives</h2>");
        rp_plot_losses(&b, d);
        rp_plot_frontier(&b, d);
        rp_plot_token_weights(&b, d);
        dc_sb_append(&b, "</section>\n");
    }
    dc_sb_append(&b, "<section id=\"curves\"><h2>Curves</h2>");
    rp_plot_drift(&b, d);
    rp_plot_curves(&b, d);
    dc_sb_append(&b, "</section>\n<section id=\"llm\"><h2>LLM usage</h2>");
    rp_plot_llm(&b, d);
    rp_plot_models(&b, d);
    dc_sb_printf(&b, "</section>\n<section id=\"candidates\"><h2>Candidates (%d)</h2><p class=\"note\">Click a "
                     "column to sort, a row to show its thought, code, message and parents.</p>"
                     "<table id=\"cands\"><thead><tr>"
                     "<th data-col=\"id\" data-type=\"num\">id</th><th data-col=\"gen\" data-type=\"num\">gen</th>"
                     "<th data-col=\"name\">name</th><th data-col=\"status\">status</th>"
                     "<th data-col=\"fitness\" data-type=\"num\">fitness</th>"
                     "<th data-col=\"test\" data-type=\"num\">test</th>"
                     "<th data-col=\"seconds\" data-type=\"num\">seconds</th><th>parents</th></tr></thead>\n",
                 d->ncands);
    candidate_rows(&b, d);
    dc_sb_append(&b, "</table>");
    if (d->ncands > RP_TABLE_PAGE)
        dc_sb_printf(&b, "<button id=\"show-all\" type=\"button\">Show all %d candidates (the first %d by the "
                         "current sort are shown)</button><noscript><style>#cands tbody.more{display:table-row-group}"
                         "</style></noscript>",
                     d->ncands, RP_TABLE_PAGE);
    dc_sb_append(&b, "</section>\n<footer class=\"note\">Generated by ");
    rp_esc(&b, generator);
    dc_sb_append(&b, " from ");
    dc_sb_append(&b, "the archive; every chart is inline SVG, nothing is loaded from the network.</footer>\n<script>");
    dc_sb_append(&b, BODY_SCRIPT);
    dc_sb_append(&b, "</script></body></html>\n");
    return dc_sb_take(&b);
}
