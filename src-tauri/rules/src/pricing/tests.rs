//! docs/billing.md's price model examples, every boundary, and properties over
//! 100,000+ random cases each.

use rust_decimal::Decimal;

use super::*;
use crate::money::Currency;

fn d(s: &str) -> Decimal {
    s.parse::<Dec>().unwrap().0
}

fn usd(amount: Dec) -> String {
    Currency::parse("USD").unwrap().round(amount.0).to_string()
}

fn tiers(rows: &[(Option<&str>, &str, Option<&str>)]) -> Vec<TierFields> {
    rows.iter()
        .map(|(up_to, price, flat)| TierFields {
            up_to: up_to.map(|u| Dec(d(u))),
            unit_price: Dec(d(price)),
            flat_fee: flat.map(|f| Dec(d(f))),
        })
        .collect()
}

fn model(fields: PriceFields) -> PriceModel {
    fields.validate().unwrap()
}

/// (quantity, amount rounded to cents) for one model.
fn check(m: &PriceModel, cases: &[(&str, &str)]) {
    for (qty, expected) in cases {
        let priced = m.price(d(qty));
        assert_eq!(usd(priced.amount), *expected, "{m:?} at {qty}: {priced:?}");
        let sum: Decimal = priced.steps.iter().map(|s| s.amount.0).sum();
        assert_eq!(sum, priced.amount.0, "the steps add up at {qty}");
    }
}

#[test]
fn per_unit_after_included_units() {
    let m = model(PriceFields::PerUnit { unit_price: Dec(d("0.002")), included: Some(Dec(d("1000"))) });
    check(
        &m,
        &[
            ("12345", "22.69"),
            ("0", "0.00"),
            ("1000", "0.00"),
            ("1001", "0.00"),
            ("1003", "0.01"),
            ("500", "0.00"),
            ("-5", "0.00"),
        ],
    );
    let tiny = model(PriceFields::PerUnit { unit_price: Dec(d("0.000002000001")), included: None });
    check(&tiny, &[("1000000", "2.00"), ("2500000", "5.00"), ("0.5", "0.00")]);
    assert_eq!(tiny.price(d("1000000")).amount.0, d("2.000001"), "12-decimal unit prices are exact");
}

#[test]
fn graduated_each_tier_prices_its_units() {
    // docs/billing.md: tiers ≤10: 0.10 + flat 0.02; above: 0.05 + flat 0.03.
    let m = model(PriceFields::Graduated {
        tiers: tiers(&[(Some("10"), "0.10", Some("0.02")), (None, "0.05", Some("0.03"))]),
    });
    check(&m, &[("0", "0.00"), ("1", "0.12"), ("10", "1.02"), ("11", "1.10"), ("12", "1.15"), ("10.5", "1.08")]);
    let steps = m.price(d("12")).steps;
    assert_eq!(steps.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), ["up to 10", "over 10"]);
    assert_eq!((steps[1].quantity.0, steps[1].amount.0), (d("2"), d("0.13")));
}

#[test]
fn volume_the_whole_quantity_at_its_tier() {
    // docs/billing.md: ≤100: 2 + flat 10; ≤200: 1; above: 0.5 + flat 50.
    let m = model(PriceFields::Volume {
        tiers: tiers(&[(Some("100"), "2", Some("10")), (Some("200"), "1", None), (None, "0.5", Some("50"))]),
    });
    check(
        &m,
        &[
            ("0", "0.00"),
            ("1", "12.00"),
            ("100", "210.00"),
            ("101", "101.00"),
            ("200", "200.00"),
            ("200.5", "150.25"),
            ("300", "200.00"),
        ],
    );
}

#[test]
fn packages_round_up_after_the_free_units() {
    let m = model(PriceFields::Package { package_size: Dec(d("10")), package_price: Dec(d("1.00")), free: None });
    check(&m, &[("121", "13.00"), ("10.01", "2.00"), ("0", "0.00"), ("10", "1.00"), ("0.001", "1.00")]);
    let free = model(PriceFields::Package {
        package_size: Dec(d("10")),
        package_price: Dec(d("1.00")),
        free: Some(Dec(d("10"))),
    });
    check(&free, &[("121", "12.00"), ("10", "0.00"), ("5", "0.00"), ("10.5", "1.00")]);
}

#[test]
fn a_percentage_of_each_events_amount() {
    let m = model(PriceFields::Percentage {
        percent: Dec(d("2.9")),
        fixed_fee: Some(Dec(d("0.30"))),
        min_fee: Some(Dec(d("0.50"))),
        max_fee: Some(Dec(d("5.00"))),
    });
    // 10.00 → 0.59; 1.00 → 0.329 raised to 0.50; 1000.00 → 29.30 held to 5.00.
    let priced = m.price_events(&[d("10.00"), d("1.00"), d("1000.00")]);
    assert_eq!(priced.amount.0, d("6.09"));
    let labels: Vec<&str> = priced.steps.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "2.9% of 3 events' amounts",
            "fixed fee per event",
            "raised to the minimum fee on 1 events",
            "held to the maximum fee on 1 events"
        ]
    );
    assert!(m.price_events(&[]).steps.is_empty());
    assert_eq!(m.price_events(&[d("-20")]).amount.0, d("0.50"), "a refund's fee is the minimum, never negative");
}

#[test]
fn fees_prorate_by_days() {
    // docs/billing.md: 99.00/month from 2026-10-15 in a 31-day October: 99 × 17/31 = 54.29.
    assert_eq!(usd(prorate(d("99.00"), 17, 31).amount), "54.29");
    assert_eq!(usd(prorate(d("99.00"), 31, 31).amount), "99.00");
    assert_eq!(usd(prorate(d("99.00"), 0, 31).amount), "0.00");
    assert_eq!(usd(prorate(d("100.00"), 1, 3).amount), "33.33");
}

#[test]
fn malformed_models_name_every_problem() {
    let paths = |f: PriceFields| f.validate().unwrap_err().into_iter().map(|p| p.path).collect::<Vec<_>>();
    assert_eq!(paths(PriceFields::Graduated { tiers: vec![] }), ["tiers"]);
    assert_eq!(
        paths(PriceFields::Graduated {
            tiers: tiers(&[
                (Some("10"), "1", None),
                (Some("5"), "-1", None),
                (None, "1", Some("-2")),
                (Some("50"), "1", None)
            ])
        }),
        ["tiers[1].up_to", "tiers[1].unit_price", "tiers[2].up_to", "tiers[2].flat_fee", "tiers[3].up_to"]
    );
    assert_eq!(
        paths(PriceFields::Volume { tiers: tiers(&[(Some("0"), "1", None), (None, "1", None)]) }),
        ["tiers[0].up_to"]
    );
    assert_eq!(
        paths(PriceFields::Package { package_size: Dec(d("0")), package_price: Dec(d("-1")), free: None }),
        ["package_size", "package_price"]
    );
    assert_eq!(
        paths(PriceFields::Percentage {
            percent: Dec(d("101")),
            fixed_fee: None,
            min_fee: Some(Dec(d("2"))),
            max_fee: Some(Dec(d("1")))
        }),
        ["percent", "max_fee"]
    );
}

#[test]
fn catalog_json_reads_into_fields() {
    let json = r#"{ "model": "graduated", "tiers": [ { "up_to": "1000000", "unit_price": "0.000005" },
                   { "up_to": null, "unit_price": "0.000004", "flat_fee": "0" } ] }"#;
    let fields: PriceFields = serde_json::from_str(json).unwrap();
    let m = fields.validate().unwrap();
    assert_eq!(usd(m.price(d("1500000")).amount), "7.00");
    let typo = r#"{ "model": "per_unit", "unit_price": "1", "include": "5" }"#;
    assert!(serde_json::from_str::<PriceFields>(typo).is_err(), "unknown fields are refused");
}

/// Random prices, quantities and tiers, reproducibly.
struct Rng(crate::rng::Rng);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// A decimal with up to `scale` places below `max`.
    fn decimal(&mut self, max: u64, scale: u32) -> Decimal {
        Decimal::new((self.next() % (max * 10u64.pow(scale))) as i64, scale)
    }
    /// 1 to 4 random tiers; half the time with whole bounds.
    fn tiers(&mut self) -> Tiers {
        let n = 1 + self.next() % 4;
        let whole = self.next().is_multiple_of(2);
        let mut bound = Decimal::ZERO;
        let mut rows = Vec::new();
        for i in 0..n {
            let up_to = (i + 1 < n).then(|| {
                bound += Decimal::ONE + self.decimal(1000, if whole { 0 } else { 1 });
                Dec(bound)
            });
            rows.push(TierFields {
                up_to,
                unit_price: Dec(self.decimal(5, 6)),
                flat_fee: (self.next().is_multiple_of(2)).then(|| Dec(self.decimal(20, 2))),
            });
        }
        Tiers::new(&rows).unwrap()
    }
}

#[test]
fn graduated_adds_each_units_tier_price() {
    // For whole quantities: pricing one more unit adds that unit's tier price,
    // and the tier's flat fee when it is the tier's first unit.
    let mut rng = Rng(crate::rng::Rng::new(0x1234_5678_9abc_def1));
    for _ in 0..20_000 {
        let t = rng.tiers();
        assert!(graduated::price(&t, Decimal::ZERO).amount.0.is_zero());
        for _ in 0..6 {
            let q = Decimal::from(1 + rng.next() % 2000);
            let tier = t.tier_of(q);
            // Unit (q − 1, q] lies wholly in its tier when the tier starts at a whole number.
            if !tier.from.fract().is_zero() {
                continue;
            }
            let first_unit = q - Decimal::ONE == tier.from;
            let expected = tier.unit_price + if first_unit { tier.flat_fee } else { Decimal::ZERO };
            let added = graduated::price(&t, q).amount.0 - graduated::price(&t, q - Decimal::ONE).amount.0;
            assert_eq!(added, expected, "{t:?} at {q}");
        }
    }
}

#[test]
fn every_model_is_non_negative_and_monotone_in_quantity() {
    let mut rng = Rng(crate::rng::Rng::new(0xdead_beef_cafe_f00d));
    let mut cases = 0;
    while cases < 100_000 {
        let t = rng.tiers();
        let models = [
            PriceModel::Graduated(t.clone()),
            PriceModel::Volume(t),
            PriceModel::PerUnit(PerUnit::new(rng.decimal(3, 12), rng.decimal(100, 0)).unwrap()),
            PriceModel::Package(
                Package::new(Decimal::ONE + rng.decimal(50, 0), rng.decimal(10, 2), rng.decimal(20, 0)).unwrap(),
            ),
        ];
        let (a, b) = (rng.decimal(5000, 3), rng.decimal(5000, 3));
        let (low, high) = (a.min(b), a.max(b));
        for m in &models {
            let (p_low, p_high) = (m.price(low), m.price(high));
            assert!(!p_low.amount.0.is_sign_negative() || p_low.amount.0.is_zero(), "{m:?} at {low}");
            let sum: Decimal = p_high.steps.iter().map(|s| s.amount.0).sum();
            assert_eq!(sum, p_high.amount.0);
            // Volume pricing may fall when a quantity crosses into a cheaper tier; the others never do.
            if !matches!(m, PriceModel::Volume(_)) {
                assert!(
                    p_low.amount.0 <= p_high.amount.0,
                    "{m:?}: {low} → {}, {high} → {}",
                    p_low.amount,
                    p_high.amount
                );
            }
            cases += 1;
        }
    }
}

#[test]
fn volume_prices_all_units_at_the_quantitys_tier() {
    let mut rng = Rng(crate::rng::Rng::new(0x0bad_cafe_1234_5678));
    for _ in 0..100_000 {
        let t = rng.tiers();
        let q = rng.decimal(5000, 3);
        let amount = volume::price(&t, q).amount.0;
        let tier = t.tier_of(q);
        let expected = if q.is_zero() { Decimal::ZERO } else { q * tier.unit_price + tier.flat_fee };
        assert_eq!(amount, expected, "{t:?} at {q}");
    }
}

#[test]
fn every_step_says_what_it_is_and_old_labels_read_as_the_same_kind() {
    use StepKind::*;
    let graduated =
        model(PriceFields::Graduated { tiers: tiers(&[(Some("10"), "1", None), (None, "0.5", Some("2"))]) });
    let volume = model(PriceFields::Volume { tiers: tiers(&[(Some("10"), "1", None), (None, "0.5", None)]) });
    let per_unit = model(PriceFields::PerUnit { unit_price: Dec(d("0.01")), included: Some(Dec(d("100"))) });
    let plain = model(PriceFields::PerUnit { unit_price: Dec(d("0.01")), included: None });
    let package = model(PriceFields::Package {
        package_size: Dec(d("10")),
        package_price: Dec(d("1.00")),
        free: Some(Dec(d("10"))),
    });
    let percentage = model(PriceFields::Percentage {
        percent: Dec(d("2.9")),
        fixed_fee: Some(Dec(d("0.30"))),
        min_fee: Some(Dec(d("0.50"))),
        max_fee: Some(Dec(d("5.00"))),
    });
    let cases: Vec<(Priced, Vec<StepKind>)> = vec![
        (graduated.price(d("25")), vec![Tier, Tier]),
        (volume.price(d("25")), vec![Tier]),
        (per_unit.price(d("150")), vec![Included, Units]),
        (plain.price(d("150")), vec![Units]),
        (package.price(d("121")), vec![Included, Package]),
        (
            percentage.price_events(&[d("10.00"), d("1.00"), d("1000.00")]),
            vec![Percentage, EventFee, EventLimit, EventLimit],
        ),
        (prorate(d("99.00"), 17, 31), vec![Proration]),
        (prorate(d("99.00"), 31, 31), vec![FlatFee]),
    ];
    for (priced, kinds) in cases {
        let found: Vec<StepKind> = priced.steps.iter().map(|s| s.kind).collect();
        assert_eq!(found, kinds, "{priced:?}");
        for step in &priced.steps {
            // An invoice frozen before steps carried a kind reads as the same kind.
            assert_eq!(StepKind::of_legacy_label(&step.label, step.flat_fee.0), step.kind, "{step:?}");
            let mut stored = serde_json::to_value(step).unwrap();
            stored.as_object_mut().unwrap().remove("kind");
            let read: Step = serde_json::from_value(stored).unwrap();
            assert_eq!(&read, step);
        }
    }
    // What the rating writes: the commitment true-up and discounts.
    for (label, kind) in [
        ("minimum commitment 500.00 less usage 120.00", Commitment),
        ("10% of 540.00", Discount),
        ("50.00 off", Discount),
    ] {
        assert_eq!(StepKind::of_legacy_label(label, Decimal::ZERO), kind, "{label}");
    }
    assert_eq!(serde_json::to_value(EventLimit).unwrap(), "event_limit");
}
