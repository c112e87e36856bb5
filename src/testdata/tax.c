/*
 * tax.c: the Danish personal income tax in outline, and its parameters per
 * income year (approximate published figures; one row a year).
 *
 * The structure (amounts in øre, rates in hundredths of a percent):
 *   AM-bidrag      = wage x AM rate
 *   personal       = wage - AM-bidrag + transfers + pensions
 *   employment ded = min((wage - AM-bidrag) x rate, maximum)
 *   taxable        = personal + net capital - (employment ded + other deductions)
 *   bottom tax     = (personal + positive capital - personal allowance)+ x bottom rate
 *   top tax        = (personal + positive capital - threshold)+ x top rate, the rate
 *                    cut so that bottom + top + municipal <= the tax ceiling
 *   municipal      = (taxable - personal allowance)+ x municipal rate
 *   church         = (taxable - personal allowance)+ x church rate, members only
 *   share tax      = share income up to the threshold x low rate, above x high rate
 * Simplifications, as synthetic data allows: no transfer of unused allowance
 * between spouses, no capital-income thresholds for the top tax, no green
 * check, no job deduction for single parents.
 */
#include <stddef.h>

#include "testdata/testdata.h"

#define KR(x) ((int64_t)(x)*100)

static const struct testdata_tax_year tax_years[] = {
    /* year AM  allowance   bottom top threshold  ceiling empl  empl max   27%  42%  share thr */
    {2020, 800, KR(46600), 1211, 1500, KR(531000), 5207, 1060, KR(39400), 2700, 4200, KR(55300)},
    {2021, 800, KR(46600), 1210, 1500, KR(544800), 5207, 1060, KR(40600), 2700, 4200, KR(56500)},
    {2022, 800, KR(46600), 1209, 1500, KR(552500), 5207, 1065, KR(41600), 2700, 4200, KR(57200)},
    {2023, 800, KR(48000), 1209, 1500, KR(568900), 5207, 1065, KR(45600), 2700, 4200, KR(58900)},
    {2024, 800, KR(49700), 1201, 1500, KR(588900), 5207, 1230, KR(55600), 2700, 4200, KR(61000)},
    {2025, 800, KR(51600), 1201, 1500, KR(611800), 5207, 1275, KR(63300), 2700, 4200, KR(67500)},
};
#define N_YEARS (sizeof tax_years / sizeof tax_years[0])

const struct testdata_tax_year *testdata_tax_year(int year)
{
    for (size_t i = 0; i < N_YEARS; i++)
        if (tax_years[i].year == year)
            return &tax_years[i];
    return NULL;
}

void testdata_tax_years(int *first, int *last)
{
    *first = tax_years[0].year;
    *last = tax_years[N_YEARS - 1].year;
}

/* amount x rate (hundredths of a percent), rounded half up; amount >= 0. */
static int64_t pct(int64_t amount, int bp)
{
    if (amount <= 0 || bp <= 0)
        return 0;
    return (amount * bp + 5000) / 10000;
}

static int64_t pos(int64_t x)
{
    return x > 0 ? x : 0;
}

void testdata_compute_tax(const struct testdata_tax_year *ty, const struct testdata_income *in,
                          struct testdata_tax *out)
{
    out->am = pct(in->wage, ty->am_bp);
    out->personal = in->wage - out->am + in->transfer + in->pension;
    int64_t empl = pct(in->wage - out->am, ty->employment_bp);
    out->employment_deduction = empl < ty->employment_max ? empl : ty->employment_max;
    out->deductions = out->employment_deduction + in->other_deductions;
    out->taxable = out->personal + in->capital - out->deductions;
    int64_t state_base = out->personal + pos(in->capital);
    out->bottom = pct(state_base - ty->personal_allowance, ty->bottom_bp);
    int top_bp = ty->ceiling_bp - ty->bottom_bp - in->municipal_bp;
    top_bp = top_bp < ty->top_bp ? top_bp : ty->top_bp;
    out->top = pct(state_base - ty->top_threshold, top_bp);
    int64_t local_base = out->taxable - ty->personal_allowance;
    out->municipal = pct(local_base, in->municipal_bp);
    out->church = in->church ? pct(local_base, in->church_bp) : 0;
    int64_t low = in->share < ty->share_threshold ? in->share : ty->share_threshold;
    out->share_tax = pct(low, ty->share_low_bp) + pct(in->share - low, ty->share_high_bp);
    out->total = out->am + out->bottom + out->top + out->municipal + out->church + out->share_tax;
}
