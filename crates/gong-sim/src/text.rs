//! Words the generated calls are made of. Kept apart from the generator so the phrases the
//! trackers look for and the sentences that contain them are visibly the same strings.

/// The seller: every internal party works here.
pub const SELLER: &str = "Acme";
pub const SELLER_DOMAIN: &str = "acme.com";

/// Customers and the competitors they mention. Globex is a competitor here, not a customer,
/// so a "Competitors" tracker hit is never the customer's own name.
pub const CUSTOMERS: &[(&str, &str, &str)] = &[
    ("Umbrella", "umbrella.com", "Pharmaceuticals"),
    ("Stark Industries", "stark.com", "Manufacturing"),
    ("Wayne Enterprises", "wayne.com", "Conglomerate"),
    ("Cyberdyne", "cyberdyne.io", "Internet Software & Services"),
    ("Soylent", "soylent.com", "Food & Beverage"),
    ("Tyrell", "tyrell.com", "Biotechnology"),
    ("Wonka", "wonka.com", "Consumer Goods"),
    ("Massive Dynamic", "massivedynamic.com", "Research"),
    ("Oscorp", "oscorp.com", "Chemicals"),
    ("Aperture", "aperture.com", "Internet Software & Services"),
    (
        "Dunder Mifflin",
        "dundermifflin.com",
        "Paper & Forest Products",
    ),
    ("Sirius Cybernetics", "sirius.io", "Robotics"),
];
pub const COMPETITORS: &[&str] = &["Initech", "Hooli", "Globex", "Vandelay"];

/// Internal users: (first, last, title).
pub const STAFF: &[(&str, &str, &str)] = &[
    ("Jon", "Snow", "Account Executive"),
    ("Arya", "Stark", "Account Executive"),
    ("Sansa", "Stark", "Senior Account Executive"),
    ("Tyrion", "Lannister", "Sales Engineer"),
    ("Brienne", "Tarth", "Customer Success Manager"),
    ("Samwell", "Tarly", "Customer Success Manager"),
    ("Davos", "Seaworth", "Account Executive"),
    ("Missandei", "Naath", "Sales Development Representative"),
    ("Jorah", "Mormont", "Sales Engineer"),
    ("Catelyn", "Tully", "VP Sales"),
    ("Olenna", "Tyrell", "Director of Customer Success"),
    ("Bronn", "Blackwater", "Account Executive"),
];
/// Indexes into STAFF of the two managers (others report to one of them).
pub const MANAGERS: [usize; 2] = [9, 10];

pub const CONTACT_FIRST: &[&str] = &[
    "Hank", "Priya", "Marco", "Lena", "Omar", "Grace", "Tomas", "Aiko", "Nadia", "Victor", "Chloe",
    "Ravi", "Ingrid", "Kwame", "Sofia", "Dmitri",
];
pub const CONTACT_LAST: &[&str] = &[
    "Scorpio", "Patel", "Rossi", "Berg", "Haddad", "Kim", "Novak", "Tanaka", "Ali", "Moreau",
    "Dubois", "Iyer", "Larsen", "Mensah", "Garcia", "Volkov",
];
pub const CONTACT_TITLES: &[&str] = &[
    "VP Operations",
    "Head of Sales",
    "Director of IT",
    "Sales Operations Manager",
    "CFO",
    "RevOps Lead",
    "Procurement Manager",
];

pub const SELLER_LINES: &[&str] = &[
    "Thanks for making the time today.",
    "Let me share my screen for a second.",
    "Can you walk me through your current process?",
    "How many people are on the team today?",
    "That makes sense.",
    "We see that a lot with teams your size.",
    "The dashboard updates in real time.",
    "Let me show you how the reporting works.",
    "What does success look like for you this quarter?",
    "Who else should be involved in the evaluation?",
    "Does that answer your question?",
    "Most customers are live within two weeks.",
];
pub const BUYER_LINES: &[&str] = &[
    "Sure, happy to.",
    "Right now we do most of this in spreadsheets.",
    "We have about forty reps across two regions.",
    "The main pain is forecasting accuracy.",
    "Our contract is up in a few months.",
    "Can you say more about the integrations?",
    "That would help our managers a lot.",
    "I need to loop in our security team.",
    "What does onboarding usually look like?",
    "Makes sense.",
    "We tried something similar last year.",
    "How does this work with Salesforce?",
];

/// Sentences a tracker or the call's summary refers to. `{c}` is a competitor's name.
pub const COMPETITOR_LINES: &[&str] = &[
    "We're also evaluating {c} right now.",
    "{c} quoted us a lower price.",
    "How are you different from {c}?",
];
pub const CHURN_LINES: &[&str] = &[
    "Honestly, we are considering cancelling at the end of the term.",
    "As it stands we are not renewing.",
    "Some of the team want to switch to {c}.",
];
pub const UPSELL_LINES: &[&str] = &[
    "We'd like to add more seats for the support team.",
    "Could we expand to another team next quarter?",
];
pub const ACTION_LINES: &[&str] = &[
    "I'll send you the security questionnaire by Friday.",
    "I'll set up a follow-up with your IT team next week.",
    "I'll share the pricing proposal by end of day tomorrow.",
    "I'll send over the case study we discussed.",
];
pub const PRICING_LINES: &[&str] = &[
    "What would the price look like for two hundred seats?",
    "Is there a discount for a two-year commitment?",
];

/// Keyword trackers: (name, phrases). A phrase counts when a sentence contains it.
pub const TRACKERS: &[(&str, &[&str])] = &[
    ("Competitors", COMPETITORS),
    ("Churn Risk", &["cancelling", "not renewing", "switch to"]),
    ("Expansion", &["add more seats", "another team"]),
    ("Pricing", &["price", "discount"]),
];

pub const TOPICS: &[&str] = &[
    "Call Setup",
    "Small Talk",
    "Product Demo",
    "Pricing",
    "Next Steps",
    "Wrap-Up",
];
