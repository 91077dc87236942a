# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Charts for the monthly report, drawn on the server as inline SVG
(pygal): the PDF needs neither a browser nor a network."""
import pygal
from genshi.core import Markup
from pygal.style import Style

BRAND = '#0b4ea2'
SMILEY_COLOURS = ('#1b5e20', '#558b2f', '#9e7c00', '#ef6c00', '#c62828')
PALETTE = (BRAND, '#b35c00', '#1a6b30', '#6a3d9a', '#a4161a', '#4a4a4a')


def _style(colours=PALETTE):
    return Style(
        font_family='DejaVu Sans, Arial, sans-serif',
        background='white', plot_background='white',
        foreground='#111', foreground_strong='#111',
        foreground_subtle='#767676',
        colors=colours,
        title_font_size=15, label_font_size=11, major_label_font_size=11,
        value_font_size=11, legend_font_size=11, tooltip_font_size=11)


def _options(**options):
    values = {
        'js': [], 'disable_xml_declaration': True, 'explicit_size': False,
        'width': 640, 'height': 260, 'print_values': True,
        'show_y_guides': True, 'margin': 8, 'truncate_label': -1,
        'truncate_legend': -1,
        }
    values.update(options)
    return values


def _markup(chart):
    return Markup(chart.render(is_unicode=True))


def distribution(title, labels, counts, smiley=False):
    "A bar per answer with its share in %."
    total = sum(counts) or 1
    chart = pygal.HorizontalBar(**_options(
            style=_style(SMILEY_COLOURS if smiley else PALETTE),
            show_legend=False, width=400, print_zeroes=False,
            height=max(130, 34 * len(labels) + 70),
            range=(0, 100), value_formatter=lambda v: '%d %%' % round(v)))
    chart.title = title
    # pygal draws the first label at the bottom
    chart.x_labels = list(reversed(labels))
    values = [round(100.0 * c / total, 1) for c in counts]
    colours = SMILEY_COLOURS if smiley else [BRAND] * len(values)
    chart.add(title, [{'value': v, 'color': colours[i % len(colours)]}
            for i, v in reversed(list(enumerate(values)))])
    return _markup(chart)


def trend(title, months, series, value_range=None, unit=''):
    """Lines over the months; series is [(name, [value or None, ...])].
    None when there is nothing to draw."""
    if not any(v is not None for _, values in series for v in values):
        return None
    chart = pygal.Line(**_options(
            style=_style(), show_legend=len(series) > 1,
            legend_at_bottom=True, range=value_range,
            allow_interruptions=True, dots_size=4,
            value_formatter=lambda v: ('%.1f' % v).replace('.0', '')
            + unit if v is not None else ''))
    chart.title = title
    chart.x_labels = months
    for name, values in series:
        chart.add(name, values)
    return _markup(chart)


def bars(title, labels, values, unit=''):
    "One bar per label."
    chart = pygal.Bar(**_options(
            style=_style(), show_legend=False,
            value_formatter=lambda v: ('%.1f' % v).replace('.0', '')
            + unit))
    chart.title = title
    chart.x_labels = labels
    chart.add(title, values)
    return _markup(chart)


def shares(title, labels, values):
    "A pie of shares (bookings by channel or origin)."
    chart = pygal.Pie(**_options(
            style=_style(), inner_radius=0.45, legend_at_bottom=True,
            height=240, width=310,
            value_formatter=lambda v: '%d' % v))
    chart.title = title
    for label, value in zip(labels, values):
        if value:
            chart.add(label, value)
    return _markup(chart)
