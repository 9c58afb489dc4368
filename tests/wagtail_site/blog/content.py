"""What the blog says: one real post (seed-post.txt, debris and all) and
thirty-six short ones in the same voice, oldest first.

Bodies are Wagtail's stored rich text. `{page:KEY}`, `{image:KEY}` and
`{document:KEY}` stand for the ids of an earlier post, an inline picture
(media.INLINE_DRAWINGS) and a handout (media.HANDOUTS); seed.py fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

MIRIAM = "Dr. Miriam Hale"
TOMAS = "Tomás Reyes"

SEED_POST = Path(__file__).with_name("seed-post.txt")


@dataclass(frozen=True)
class PostText:
    key: str
    title: str
    intro: str
    tags: tuple[str, ...]
    body: str = ""  # stored rich text, for a BlogPage
    stream: list[tuple[str, Any]] = field(default_factory=list)  # for an ArticlePage
    author: str = MIRIAM


# Closing thoughts that the shorter posts share, two each, as a writer's
# habitual paragraphs recur across a blog.
COMMON = [
    "<p>I often remind the people I work with that nothing they feel is too much for the room. The room has held a "
    "great deal over the years: fury, tenderness, long silences, laughter that turns into tears without warning. "
    "It can hold this too.</p>",
    "<p>There is no prize for healing quickly. The nervous system learns through repetition, not through insight "
    "alone, and it learns best when it feels safe enough to stay curious. So we go slowly, and slowly turns out to "
    "be faster than we thought.</p>",
    "<p>When someone tells me they <i>should</i> be over something by now, I ask who set the deadline. Usually it "
    "was someone who was uncomfortable with their pain, and the deadline has outlived that person's patience by "
    "decades.</p>",
    "<p>I keep a small notebook of phrases clients have given me over the years, with their permission and "
    "without their names. One of my favourites comes from a retired nurse who said, after a long year of work, "
    "\u201cI finally stopped auditioning for my own life.\u201d</p>",
    "<p>If you take one thing from this post, let it be this: the part of you that is frightened is not your "
    "enemy. It is trying, clumsily, to keep you safe. It deserves to be listened to, even if it does not get to "
    "make all the decisions.</p>",
    "<p>Attachment is not only something that happens in infancy. We keep attaching all our lives, to partners, "
    "friends, teachers, even to a therapist, and each new secure bond quietly revises the old story about whether "
    "we are worth staying for.</p>",
    "<p>Many of my clients are helpers by profession: nurses, teachers, social workers, other therapists. They "
    "notice what others need with great skill and their own hunger, thirst or exhaustion hardly at all. Learning "
    "to turn that skilled attention inward is often the real work.</p>",
    "<p>I am wary of advice that arrives in lists of five easy steps. Still, a few small practices have helped "
    "many people I have sat with: an exhale that is longer than the inhale, a hand on the chest, and a sentence "
    "spoken kindly, as if to a friend.</p>",
    "<p>Grief is love with nowhere to go, as the saying has it. In my experience it does eventually find "
    "somewhere to go: into rituals, into stories told at the kitchen table, into the way we care for the people "
    "who are still here.</p>",
    "<p>Cognitive behavioural therapy is sometimes described as cold or mechanical. In practice it can be deeply "
    "warm. Writing a thought down and looking at it together is an act of companionship: two people side by side, "
    "examining something that had only ever been faced alone.</p>",
    "<p>Trauma is not only what happened to you but what happened inside you because of it, and what did not "
    "happen afterwards: the comfort that never came, the adult who never asked. That second part is where "
    "therapy can help the most.</p>",
    "<p>I will be writing more about this in the coming months. If something here touched a nerve, I hope you "
    "will be gentle with yourself today, and perhaps tell one trusted person what you noticed.</p>",
    "<p>Thank you, as always, for reading. These posts come out of the quiet hours between sessions, and knowing "
    "that they reach people who need them is one of the privileges of this work.</p>",
]


POSTS = [
    PostText(
        "waiting-room",
        "What the Waiting Room Taught Me",
        "Ten minutes in a chair before a first session say a great deal about how we meet the unknown.",
        ("anxiety", "self-compassion"),
        "<p>For years I paid no attention to my own waiting room. Then one winter the heating failed and I sat out "
        "there myself between sessions, wrapped in a coat, and understood for the first time how long ten minutes "
        "can be when you are about to tell a stranger the thing you have never said aloud.</p>"
        "<p>I bought softer lamps that week. I also started greeting new clients by saying that arriving is the "
        "hardest part, and that they have already done it.</p>",
    ),
    PostText(
        "grief-calendar",
        "Grief Does Not Keep a Calendar",
        "The stages of grief were never meant as a timetable, and most mourners know it in their bones.",
        ("grief", "self-compassion"),
        "<p>A woman I worked with lost her husband in March and was, by her own account, \u201cdoing fine\u201d "
        "until a Tuesday in October when she found his handwriting on a seed packet in the shed. She sat on the "
        "floor of the shed for an hour. She came to me afterwards worried that she was going backwards.</p>"
        "<p>She was not going backwards. <b>Grief does not move in a line</b>; it circles, and each time it comes "
        "round we meet it with a little more strength than before.</p>",
    ),
    PostText(
        "dishes",
        "The Argument About the Dishes Is Never About the Dishes",
        "What couples fight about is rarely what they are fighting about.",
        ("couples", "attachment"),
        "<p>In my couples work I hear a great deal about dishes, socks, thermostats and the correct way to load a "
        "dishwasher. I listen carefully, because the details matter to the people telling them. But underneath, the "
        "question is nearly always the same: <i>do you see me, and will you come when I call?</i></p>"
        "<h2>Listening for the second sentence</h2>"
        "<p>When one partner says \u201cyou never help,\u201d I wait for the sentence behind it. Often it is "
        "something like \u201cI feel alone in this house.\u201d That sentence can be answered; the first one can "
        "only be argued with.</p>",
        author=TOMAS,
    ),
    PostText(
        "kitchen-table-cbt",
        "Small Experiments: How CBT Works at the Kitchen Table",
        "Behavioural experiments sound clinical; in practice they are small acts of everyday courage.",
        ("CBT", "anxiety"),
        "<p>One of the gentlest tools in cognitive behavioural therapy is the behavioural experiment. We take a "
        "belief, such as \u201cif I say no to my sister she will stop speaking to me,\u201d and we design a small, "
        "safe test of it.</p>"
        "<ol><li>Write the prediction down, with how strongly you believe it.</li>"
        "<li>Plan the smallest version of the feared step.</li>"
        "<li>Take it, and write down what actually happened.</li></ol>"
        "<p>The results are often surprising, and even when the fear comes true, people discover that they "
        "survived it, which is its own kind of evidence.</p>",
    ),
    PostText(
        "body-remembers",
        "When the Body Remembers First",
        "Long before we have words for what happened, the body keeps its own careful record.",
        ("trauma", "attachment"),
        "<p>A client once told me that she always felt sick on the first warm evening of spring, and had no idea "
        "why. It took us months to connect it to a summer long ago, the open windows, the sound of a particular "
        "argument drifting up the stairs.</p>"
        '<embed embedtype="image" id="{image:two-chairs}" format="left" alt="Two empty armchairs facing each other '
        'in a sunlit consulting room"/>'
        "<p>Her body had remembered first. In therapy we do not force the memory; we make the present safe enough "
        "that the body can loosen its grip, a little at a time.</p>",
    ),
    PostText(
        "younger-self",
        "Letters to a Younger Self",
        "An exercise I return to again and again, with clients and on my own.",
        ("self-compassion", "trauma"),
        "<p>I sometimes invite clients to write a letter to themselves at the age when things were hardest. Not to "
        "advise that child, and certainly not to scold them, but simply to tell them what they needed to hear.</p>"
        "<blockquote>You were not too much. You were a child in a house that was not able to hold you.</blockquote>"
        "<p>That was a line from one such letter, shared with permission. It took its writer three sessions to "
        "read it aloud.</p>",
    ),
    PostText(
        "panic-field-guide",
        "A Field Guide to Panic",
        "What a panic attack is, what it is not, and what to do in the middle of one.",
        ("anxiety", "CBT"),
        stream=[
            (
                "paragraph",
                "<p>Panic is the body's alarm going off with no fire in the building. It is frightening, and it is "
                "<b>not dangerous</b>. I write that sentence with care, because people in the middle of an attack "
                "are sure they are dying, and nobody has ever been argued out of that certainty.</p>",
            ),
            ("heading", "What is happening in the body"),
            (
                "paragraph",
                "<p>The heart races to send blood to the big muscles; breathing quickens; the hands tingle as blood "
                "moves away from them. Every one of these is the body preparing to run, faithfully and at the "
                "wrong moment.</p>",
            ),
            ("image", "{image:tea}"),
            ("quote", "The wave rises, peaks and falls. It always falls."),
            ("embed", "https://www.youtube.com/watch?v=aNmiQVsmR6U"),
            (
                "callout",
                {
                    "title": "In the middle of an attack",
                    "text": "Breathe out slowly, longer than you breathe in.\nName where you are.\n"
                    "Let the wave crest without fighting it.",
                },
            ),
            ("raw_html", '<p class="note">If panic is new for you, please also see your doctor.</p>'),
        ],
    ),
    PostText(
        "interrupted",
        "On Being Interrupted",
        "Interruptions in a relationship are small, and they add up to a story about who matters.",
        ("couples", "attachment"),
        "<p>One couple I saw timed their conversations for a week, at my suggestion. She interrupted him eleven "
        "times a day on average; he interrupted her four times, but always when she was talking about her "
        "mother.</p>"
        "<p>Neither of them had noticed. Both of them had felt it. We spent the next month on those four "
        "interruptions.</p>",
        author=TOMAS,
    ),
    PostText(
        "anniversary",
        "The Anniversary Reaction",
        "Why the body grows heavy in the same week every year, even before the mind remembers why.",
        ("grief", "trauma"),
        "<p>Every year in the second week of November I feel tired and tearful for no reason I can name, and "
        "every year it takes me a few days to remember that my father died in that week, many years ago.</p>"
        "<p>Anniversary reactions are common and often misread as depression returning. Naming them does not make "
        "them vanish, but it turns a mystery into a memory, and memories can be tended.</p>",
    ),
    PostText(
        "five-minutes",
        "Five Minutes of Kindness",
        "A short practice of self-compassion, and a recording to try it with.",
        ("self-compassion", "anxiety"),
        "<p>Self-compassion is not self-indulgence. The research is fairly clear that people who treat their own "
        "mistakes kindly are more likely, not less, to learn from them.</p>"
        "<p>Here is a five-minute practice I recorded for clients who asked for something to listen to between "
        "sessions:</p>"
        '<embed embedtype="media" url="https://www.youtube.com/watch?v=3nwwKbM_vJc"/>'
        "<p>Try it once a day for a week, and notice what the inner voice sounds like by Sunday.</p>",
    ),
    PostText(
        "grandmother",
        "Why I Ask About Your Grandmother",
        "Patterns of care pass down the generations, and so does the lack of it.",
        ("attachment", "trauma"),
        "<p>New clients are sometimes puzzled when I ask about their grandparents. They came to talk about their "
        "marriage, or their panic on the train, not about a woman who died before they were born.</p>"
        "<p>But the way a mother holds a baby is shaped by how she was held, and the way she was held was shaped "
        "by a war, a famine, a migration. We carry more than our own story.</p>",
    ),
    PostText(
        "first-session",
        "What Happens in a First Session",
        "A plain account of the first hour, for anyone who has been putting off the call.",
        ("anxiety", "CBT"),
        "<p>People often tell me they nearly cancelled their first appointment three or four times. So here is "
        "what actually happens. We talk about what brought you, what you hope for, and what you would rather not "
        "talk about yet. You do not have to tell me everything. You do not have to cry, or not cry.</p>"
        "<p>At the end I ask how the hour felt, and whether you would like to come back. Either answer is "
        "fine.</p>",
    ),
    PostText(
        "repair",
        "Repair Is the Real Romance",
        "The couples who last are not the ones who never rupture, but the ones who come back.",
        ("couples", "attachment"),
        "<p>Research on parents and infants shows that even attuned parents miss their baby's cues much of the "
        "time. What matters is the repair: noticing the miss and coming back.</p>"
        '<embed embedtype="image" id="{image:hands}" format="right" alt="Two open hands held palm up, resting on '
        'a lap"/>'
        "<p>Couples are no different. A sincere, specific \u201cI'm sorry I snapped when you told me about your "
        "day\u201d does more for a marriage than any anniversary dinner.</p>",
        author=TOMAS,
    ),
    PostText(
        "thoughts-not-facts",
        "Thoughts Are Not Facts (But They Feel Like Them)",
        "A thought arrives dressed as the truth; we can ask to see its papers.",
        ("CBT", "anxiety"),
        "<p>\u201cEveryone at the party thought I was boring.\u201d It feels like a report from the world. It is "
        "actually a guess, made by a mind that was already afraid before the party started.</p>"
        "<p>In CBT we practise asking a thought a few polite questions:</p>"
        "<ul><li>What is the evidence for this?</li><li>What is the evidence against it?</li>"
        "<li>What would I say to a friend who thought this?</li></ul>",
    ),
    PostText(
        "difficult-parent",
        "Holding Two Truths About a Difficult Parent",
        "You can love someone and still be honest about what they could not give you.",
        ("grief", "trauma"),
        "<p>Adult children of difficult parents often feel they must choose between loyalty and honesty. Either "
        "the parent was good, and the child's pain is exaggerated, or the parent was bad, and the love was a "
        "lie.</p>"
        "<p>Therapy offers a third option: both things can be true. She did her best, <i>and</i> her best was not "
        "enough for what you needed.</p>",
    ),
    PostText(
        "boundaries",
        "Boundaries Are a Kindness",
        "A clear no protects the relationship as much as it protects you.",
        ("self-compassion", "couples"),
        "<p>Many people I see believe that a boundary is a wall, and that putting one up is an act of aggression. "
        "I think of boundaries more as the banks of a river: they are what let the water go somewhere.</p>"
        "<p>\u201cI can talk on Sunday, not every evening\u201d is not a rejection. It is a promise you can "
        "actually keep, which is worth more than a dozen you cannot.</p>",
    ),
    PostText(
        "quiet-child",
        "The Quiet Child Grows Up",
        "The children nobody worried about sometimes carry the most.",
        ("trauma", "attachment"),
        "<p>\u201cShe was such an easy baby,\u201d a mother told me once, about a daughter who had learned very "
        "early that crying brought nobody. Easy babies can be babies who have given up asking.</p>"
        "<p>Those quiet children grow into capable, self-sufficient adults who feel oddly hollow, and who come "
        "to therapy apologising for taking up my time.</p>",
    ),
    PostText(
        "three-am",
        "Sleep, Worry and the 3 a.m. Committee",
        "Why worries grow in the dark, and a worksheet for giving them a daytime appointment.",
        ("anxiety", "CBT"),
        "<p>At three in the morning the mind convenes its committee: every unpaid bill, every unanswered email, "
        "every remark you wish you had not made in 2009. Nothing is ever resolved at these meetings.</p>"
        "<p>One approach that helps many people is scheduled worry time. Here is the "
        '<a linktype="document" id="{document:worry-time}">worry time worksheet</a> I give clients; it fits on one '
        "page and lives best beside the kettle, not the bed.</p>",
    ),
    PostText(
        "dog-co-regulation",
        "What My Dog Knows About Co-Regulation",
        "An old spaniel, a waiting room, and the chemistry of calm.",
        ("attachment", "self-compassion"),
        "<p>My spaniel, Biscuit, sometimes lies in the corner of the consulting room, with clients' permission. I "
        "have watched a great many shoulders come down in his company.</p>"
        '<p>I wrote about the chemistry behind this in <a linktype="page" id="{page:oxytocin}">my post on '
        "oxytocin</a>: the bonding hormone rises in both people and dogs when they are close. Biscuit does not "
        "know that. He just leans.</p>",
    ),
    PostText(
        "still-alive",
        "Grieving Someone Who Is Still Alive",
        "Dementia, estrangement, addiction: the losses that get no funeral.",
        ("grief", "couples"),
        "<p>Some of the deepest grief I witness is for people who are still living. A husband whose wife no "
        "longer recognises him. A mother whose son has not called in six years.</p>"
        "<p>This is sometimes called ambiguous loss, and it is exhausting precisely because there is no ending to "
        "mourn. Naming it as grief, real grief, is often the first relief.</p>",
    ),
    PostText(
        "mothers-daughters",
        "Mothers, Daughters and the Space Between",
        "On the long, tender negotiation of closeness and separateness.",
        ("attachment", "grief"),
        "<p>Some of the most complicated love I hear about is between mothers and adult daughters. So much "
        "closeness, and so much need for room. Daughters tell me they feel guilty for wanting distance; mothers "
        "tell me they feel foolish for missing a grown woman.</p>"
        "<p>Both are grieving something: the small child, the young mother. Naming that shared grief sometimes "
        "softens the whole argument.</p>",
    ),
    PostText(
        "grounding-skills",
        "Grounding Skills for the Hardest Days",
        "Practical ways back to the present when memories pull you under, with a handout to keep.",
        ("trauma", "CBT", "self-compassion"),
        stream=[
            (
                "paragraph",
                "<p>Grounding skills are small, concrete ways to come back to the present moment when the past "
                "floods in. They are not a cure, and they are not meant to be. They are a handrail.</p>",
            ),
            ("heading", "Why grounding works"),
            (
                "paragraph",
                "<p>When a memory takes over, the brain treats it as happening now. Grounding gives it clear, "
                "present-tense information: the floor is solid, the room is quiet, it is Tuesday. I keep a "
                '<a linktype="document" id="{document:grounding}">one-page grounding handout</a> for clients; '
                "please print it if it helps.</p>",
            ),
            ("image", "{image:hands}"),
            ("quote", "You are here. It is now. You made it through."),
            ("embed", "https://vimeo.com/76979871"),
            (
                "callout",
                {
                    "title": "Try this now",
                    "text": "Name five things you can see, four you can hear, three you can touch.",
                },
            ),
            ("raw_html", '<div class="handout-note"><em>Handouts may be shared freely with clients.</em></div>'),
        ],
    ),
    PostText(
        "inner-critic",
        "The Inner Critic Has a Job Description",
        "Before we try to silence the critic, it helps to ask what it thinks it is protecting.",
        ("self-compassion", "CBT"),
        "<p>When I ask people to describe their inner critic, they often sound like a harsh teacher or an "
        "exhausted parent. When I ask what the critic is afraid would happen if it stopped, the answers are "
        "remarkably tender: that they would be lazy, unloved, found out, left.</p>"
        "<p>The critic is usually an old bodyguard, still on duty long after the danger passed.</p>",
    ),
    PostText(
        "stop-talking",
        "Couples Who Stop Talking",
        "Silence in a relationship can be peace, or it can be a slow goodbye.",
        ("couples", "grief"),
        "<p>Some couples arrive in my office after years of quiet. No shouting, no slammed doors, just two people "
        "passing each other in the hallway like polite lodgers.</p>"
        "<p>This kind of withdrawal is often harder to reverse than open conflict, because both partners have "
        "stopped hoping. Our first task is not communication skills; it is finding the hope again.</p>",
        author=TOMAS,
    ),
    PostText(
        "not-a-straight-line",
        "Healing Is Not a Straight Line",
        "Setbacks are part of recovery, not proof that it is failing.",
        ("trauma", "self-compassion"),
        "<p>A client who had not had a flashback in months had one on a crowded train last week and called me in "
        "despair, sure that all our work had come undone.</p>"
        "<p>It had not. As I wrote in <a linktype=\"page\" id=\"{page:body-remembers}\">When the Body Remembers "
        "First</a>, the body's memory is slow to let go. What had changed was how quickly she came back: minutes "
        "instead of days.</p>",
    ),
    PostText(
        "freeze",
        "The Freeze Response Is Not Laziness",
        "When the body goes still under threat, it is protecting you, not failing you.",
        ("trauma", "anxiety"),
        "<p>We all know fight and flight. Fewer people know about freeze: the body's oldest defence, the "
        "stillness of an animal that cannot run. Survivors often carry deep shame about having frozen, as though "
        "they chose it.</p>"
        "<p>Nobody chooses it. The nervous system decides in a fraction of a second, long before thought arrives. "
        "Understanding that can lift decades of self-blame.</p>",
    ),
    PostText(
        "homework",
        "Homework I Give Myself",
        "Therapists need practices too; here are a few of mine.",
        ("CBT", "self-compassion"),
        "<p>I ask a great deal of my clients between sessions, so it seems only fair to confess my own homework. "
        "I walk before work without my phone. I write three lines in a notebook each evening. I see my own "
        "supervisor every fortnight.</p>"
        "<p>I also keep a copy of the <a linktype=\"document\" id=\"{document:grounding}\">grounding handout</a> "
        "on my own desk, because therapists have hard days too.</p>",
    ),
    PostText(
        "empty-chair",
        "Holidays With an Empty Chair",
        "On the first festive season after a loss, and the ones after that.",
        ("grief", "self-compassion"),
        "<p>The first holiday after a death is often dreaded for months. Sometimes the dread is worse than the "
        "day itself; sometimes the second year is harder, when the world has stopped making allowances.</p>"
        "<p>Some families set a place for the person who is missing. Others light a candle, or tell one story "
        "about them before the meal. There is no right way, only your way.</p>",
    ),
    PostText(
        "name-to-tame",
        "Naming the Feeling to Tame It",
        "Putting feelings into words calms the alarm system more than we expect.",
        ("anxiety", "trauma"),
        "<p>There is good evidence that simply naming an emotion, \u201cthis is fear,\u201d \u201cthis is "
        "shame,\u201d quietens the brain's alarm centre. I see it in the room weekly: the shoulders drop as the "
        "word lands.</p>"
        '<embed embedtype="media" url="https://youtu.be/WuyPuH9ojCE"/>'
        "<p>This short talk puts it better than I can. Notice which feelings you find hardest to name.</p>",
    ),
    PostText(
        "loneliness-solitude",
        "The Difference Between Loneliness and Solitude",
        "Being alone can starve us or restore us; the difference is not the number of people in the room.",
        ("self-compassion", "grief"),
        "<p>Loneliness is the pain of wanting connection and not finding it. Solitude is the chosen quiet in "
        "which we come back to ourselves.</p>"
        '<embed embedtype="image" id="{image:tea}" format="fullwidth" alt="A steaming cup of tea on a windowsill, '
        'rain on the glass behind it"/>'
        "<p>Many people who grew up lonely find solitude frightening at first, because it feels like the old "
        "abandonment. Learning to be good company for yourself is slow, and worth it.</p>",
    ),
    PostText(
        "after-an-affair",
        "Rebuilding Trust After an Affair",
        "Recovery from infidelity is possible, and it has recognisable stages.",
        ("couples", "trauma"),
        stream=[
            (
                "paragraph",
                "<p>Couples who come to me after an affair usually ask one question first: <i>can we survive "
                "this?</i> Many can. Not all should. The work is to find out which you are, honestly.</p>",
            ),
            ("heading", "Three stages of repair"),
            (
                "paragraph",
                "<ol><li>Atonement: the partner who strayed answers questions, patiently and for as long as "
                "it takes.</li><li>Attunement: both learn to turn towards each other again.</li>"
                "<li>Attachment: a new relationship, built on what you know now.</li></ol>",
            ),
            ("image", "{image:two-chairs}"),
            ("quote", "The affair is not the end of the story unless you decide it is."),
            ("embed", "https://www.youtube.com/watch?v=P-2ffnhdxqg"),
            (
                "callout",
                {
                    "title": "For the partner who was betrayed",
                    "text": "Your questions are not obsessive. They are your mind trying to make the world "
                    "safe again.",
                },
            ),
            ("raw_html", '<p class="signoff">\u2014 Tom\u00e1s</p>'),
        ],
        author=TOMAS,
    ),
    PostText(
        "therapy-stuck",
        "When Therapy Feels Stuck",
        "Plateaus happen; what to say to your therapist when they do.",
        ("CBT", "self-compassion"),
        "<p>Nearly every long therapy has a stretch when nothing seems to move. Sessions feel repetitive; you "
        "wonder whether to stop.</p>"
        "<p>Please say so, out loud, in the session. A good therapist will welcome it. Some of the most important "
        "work I have done began with a client saying, \u201cI don't think this is helping.\u201d</p>",
    ),
    PostText(
        "ordinary",
        "The Courage to Be Ordinary",
        "Perfectionism promises safety and delivers exhaustion.",
        ("anxiety", "self-compassion"),
        "<p>Many of the high achievers I work with are secretly terrified of being ordinary, as though an average "
        "day would prove they were never lovable in the first place.</p>"
        "<p>The antidote is not lowering standards; it is learning that worth was never on the table. An ordinary "
        "Tuesday, a decent cup of coffee, a job done well enough. That is a life.</p>",
    ),
    PostText(
        "anger",
        "Anger Is Information",
        "Anger often arrives with a message about what we need; it deserves a hearing.",
        ("self-compassion", "CBT"),
        "<p>Many of the gentle people I work with were taught that anger is dangerous, or simply not allowed. So "
        "it goes underground and comes out as headaches, sarcasm or a vague, grey tiredness.</p>"
        "<p>I ask clients to treat anger as a messenger. What boundary was crossed? What did you need that you "
        "did not get? The message can be heard without anyone being hurt.</p>",
    ),
    PostText(
        "neglected-body",
        "Touch, Trust and the Neglected Body",
        "Survivors of childhood neglect often live a little outside their own bodies.",
        ("trauma", "attachment"),
        "<p>Children who were rarely held learn to live from the neck up. As adults they may not notice hunger "
        "until they are shaking, or pain until it is serious.</p>"
        "<h3>Coming home to the body</h3>"
        "<p>Slowly, through breath, movement and safe relationship, the body can become a place to live rather "
        "than a vehicle to be driven.</p>",
    ),
    PostText(
        "hope",
        "What I Tell Clients About Hope",
        "Hope is not a feeling you wait for; it is something we can borrow and lend.",
        ("grief", "self-compassion"),
        "<p>When someone arrives without any hope at all, I tell them I will hold it for them until they are "
        "ready to take some back. That is part of my job.</p>"
        "<p>I think often of the woman in <a linktype=\"page\" id=\"{page:grief-calendar}\">Grief Does Not Keep a "
        "Calendar</a>, who, two years later, planted the seeds from that packet. They came up.</p>",
    ),
]

# The real post goes out between these two, so later posts can link to it.
SEED_POST_AFTER = "anniversary"


def seed_post() -> PostText:
    """The real post: its title line, then its paragraphs, the quoted
    definition as a blockquote, and the page debris that came with it."""
    title, *paragraphs = [part.strip() for part in SEED_POST.read_text(encoding="utf-8").split("\n\n") if part.strip()]
    quoted = {index for index, text in enumerate(paragraphs) if text.startswith(("Inflammation\u00a0refers", "Chronic inflammation"))}
    body = "".join(
        f"<blockquote>{escape(text, quote=False)}</blockquote>" if index in quoted else f"<p>{escape(text, quote=False)}</p>"
        for index, text in enumerate(paragraphs)
    )
    return PostText(
        "oxytocin",
        title,
        "A mentor's warning, a heart surgeon's book and the molecule that starts our heartbeat.",
        ("attachment", "trauma", "self-compassion"),
        body,
    )
